"""The op-level performance model: seconds of one component call on a GPU, and per-stage times of a workload.

Every kernel the counter saw (:mod:`bench.cost.counting.ops`) belongs to an op class. A kernel of a compute
class (GEMM, convolution, fused attention) takes ``max(FLOPs / (peak · e_class), bytes / (bandwidth · m_operand))``
at its own arithmetic intensity, where the peak is the rate of its math (fp16/bf16 tensor; TF32 for fp32
convolutions on Ampere and later, cuDNN's default; TF32 for fp32 GEMMs too where the run allows TF32 matmuls,
``tf32=True``, else fp32) and ``m_operand`` is the bandwidth fraction of GEMM operands (GEMMs
and attention) or of convolution operands (channels-first tensors: cuDNN's tensor-core kernels add layout passes, so
published convolution-heavy pipelines run slower than GEMM-heavy ones of the same FLOPs); a memory class
(element-wise, normalisation/reduction, copy) moves its bytes at ``bandwidth · m_class``. Each kernel also pays a
fixed floor (launch and tail). A call is bounded below by its host: eager PyTorch dispatches every op from Python,
``kernels x dispatch cost``; the two overlap, so the call takes the smooth maximum (a p-norm) of device and host
time (:func:`call_breakdown` keeps the parts apart, :func:`stage_limits` names what bounds each stage).

Efficiencies are per op class. Memory efficiencies are scaled per architecture family (Turing .. Blackwell, Ampere
the reference: the 72 MB L2 of Ada shows as a multiplier above 1). Compute efficiencies are shared, except that on
Hopper and Blackwell convolutions and flash attention run eager kernels written for the pre-Hopper ``mma.sync``
instructions and reach a smaller share of a datasheet peak that needs ``wgmma`` (``legacy_mma``; GEMMs go through
cuBLAS, which uses it). Free per-family compute multipliers made the leave-one-GPU-out error worse
(docs/projection.md). Weights are read once per call, activations per image: both are in the bytes the counter saw
at the call's batch.

CPU offload adds transfers over the host link (the GPU's PCIe generation, x16, per direction): model offload moves
each component's weights once per pipeline call, sequential offload moves each leaf module on every call and pays a
fixed latency per module. A pipeline call also pays a fixed overhead (scheduler setup, image post-processing).

The constants are fitted to published timings (:mod:`bench.cost.fit`) and shipped as data with the date and the
inputs of the fit (``bench/data/projection_constants.json``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench.cost.catalog import GpuSpec
from bench.cost.counting.ops import ATTENTION, CONV, COPY, ELEMENTWISE, GEMM, NORM, OP_CLASSES, OpCount
from bench.cost.counting.profile import WorkloadProfile
from bench.spec import STAGES

FAMILIES = ("Turing", "Volta", "Ampere", "Ada", "Hopper", "Blackwell")
REFERENCE_FAMILY = "Ampere"  # multipliers are relative to it
COMPUTE_CLASSES = ("gemm", "conv", "attention")
LEGACY_MMA_CLASSES = ("conv", "attention")  # eager kernels on the pre-Hopper tensor-core path (mma.sync)
LEGACY_MMA_FAMILIES = ("Hopper", "Blackwell")  # families whose datasheet peak needs a newer instruction path
# A generation with few or no published rows is centred on the generation before it (same software, newer chip).
PREVIOUS_GENERATION = {"Blackwell": "Hopper"}
MEMORY_GROUPS = ("gemm", "conv", "elementwise", "norm", "copy")
OPERAND_GROUPS = ("gemm", "conv", "gemm")  # per compute class: whose bandwidth its operand traffic moves at
STREAM_GROUPS = MEMORY_GROUPS[2:]  # the memory-bound classes, charged in total
SMOOTH_MAX_P = 4.0  # device/host overlap: (gpu^p + host^p)^(1/p); p -> inf is a hard max
# Per-direction x16 host-link bandwidth by PCIe generation (PCI-SIG: 8/16/32 GT/s per lane for gen 3/4/5 with
# 128b/130b encoding); gen 1-2 use 8b/10b.
PCIE_X16_GBS = {1: 4.0, 2: 8.0, 3: 15.75, 4: 31.5, 5: 63.0, 6: 126.0}
DEFAULT_PCIE_GEN = 4
CONSTANTS_FILE = "projection_constants.json"
DEFAULT_EFF_SOURCE = "op-level model fitted to published timings (docs/projection.md)"


@dataclass(frozen=True)
class ModelConstants:
    """The fitted constants of the op-level model (see the module docstring for what each one charges)."""

    compute_eff: dict[str, float]  # op class -> fraction of the peak rate
    memory_eff: dict[str, float]  # memory group -> fraction of the bandwidth
    arch_memory: dict[str, float]  # architecture family -> multiplier on memory efficiencies
    kernel_floor_s: float
    dispatch_s: float  # seconds of host time per dispatched op
    call_overhead_s: float  # per pipeline call
    link_eff: float  # fraction of the host link's bandwidth offload copies reach
    module_s: float  # per leaf module moved by sequential offload
    legacy_mma: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 1.0))
    source: str = DEFAULT_EFF_SOURCE
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_params(
        cls, params: dict[str, float], source: str = "", meta: dict[str, Any] | None = None
    ) -> ModelConstants:
        """Build from the flat ``name -> value`` form the fit and the constants file use."""
        return cls(
            compute_eff={c: params[f"e_{c}"] for c in COMPUTE_CLASSES},
            memory_eff={g: params[f"m_{g}"] for g in MEMORY_GROUPS},
            arch_memory={f: params.get(f"arch_memory_{f}", 1.0) for f in FAMILIES},
            kernel_floor_s=params["kernel_floor_s"],
            dispatch_s=params["dispatch_s"],
            call_overhead_s=params["call_overhead_s"],
            link_eff=params["link_eff"],
            module_s=params["module_s"],
            legacy_mma={f: params.get(f"legacy_mma_{f}", 1.0) for f in FAMILIES},
            source=source or cls.source,
            meta=meta or {},
        )


def constants_path() -> Path:
    """Where the shipped constants live."""
    return Path(str(resources.files("bench") / "data" / CONSTANTS_FILE))


@functools.cache
def shipped_constants() -> ModelConstants:
    """The constants fitted to the published timings, as shipped with the package."""
    data = json.loads(constants_path().read_text(encoding="utf-8"))
    return ModelConstants.from_params(data["params"], meta=data)


def family(gpu: GpuSpec) -> str:
    """The architecture family of a catalog GPU (the first word of its ``arch``)."""
    name = gpu.arch.split()[0] if gpu.arch.strip() else ""
    return name if name in FAMILIES else REFERENCE_FAMILY


def host_link_gbs(gpu: GpuSpec) -> float:
    """Per-direction bandwidth of the GPU's x16 host link, from its PCIe generation (gen 4 when unknown)."""
    return PCIE_X16_GBS[gpu.pcie_gen or DEFAULT_PCIE_GEN]


def tf32_tflops(gpu: GpuSpec) -> float:
    """Dense TF32 tensor rate: the catalog's figure, else half the FP16 tensor rate from Ampere on, else FP32.

    Turing and Volta have no TF32: their fp32 math runs at the FP32 rate whatever PyTorch allows.
    """
    if FAMILIES.index(family(gpu)) < FAMILIES.index("Ampere"):
        return gpu.fp32_tflops
    rate = gpu.tf32_tensor_tflops or gpu.fp16_tensor_tflops / 2
    return max(gpu.fp32_tflops, rate)


# fp32 fused attention (PyTorch's memory-efficient kernel, from xFormers: ``DefaultGemmType<ArchTag, float>``) runs on
# tensor cores from Ampere on with cutlass's ``OpMultiplyAddFastF32``: three TF32 products per fp32 one, as accurate
# as fp32, whatever TF32 setting the run has.
FAST_F32_PRODUCTS = 3


def _peaks(gpu: GpuSpec, dtype: str, tf32: bool = False) -> tuple[float, float, float, float]:
    """(half-precision, fp32 GEMM, fp32 convolution, fp32 attention) peak FLOP/s.

    cuDNN uses TF32 for fp32 convolutions on Ampere and later by default; fp32 GEMMs use it only where the run allows
    TF32 matmuls (``torch.backends.cuda.matmul.allow_tf32``, ``set_float32_matmul_precision("high")``), off by
    default; fp32 attention runs at a third of the TF32 rate (:data:`FAST_F32_PRODUCTS`) either way.
    """
    half = gpu.peak_tflops(dtype if dtype != "fp32" else "fp16") * 1e12
    fp32 = gpu.fp32_tflops * 1e12
    tf32_rate = tf32_tflops(gpu) * 1e12
    return half, tf32_rate if tf32 else fp32, tf32_rate, max(fp32, tf32_rate / FAST_F32_PRODUCTS)


@dataclass(frozen=True)
class CallFeatures:
    """What the model needs of one counted call: compute kernels one by one, memory classes in total."""

    flops: np.ndarray  # compute kernels only
    bytes: np.ndarray
    klass: np.ndarray  # index into COMPUTE_CLASSES
    fp32: np.ndarray
    memory_bytes: dict[str, float]  # memory group -> bytes of its kernels
    kernels: int


_FEATURES: dict[int, tuple[OpCount, CallFeatures]] = {}
_FEATURES_KEPT = 4096  # counts whose features are memoised at once (the counts themselves are LRU-cached)


def features(count: OpCount) -> CallFeatures:
    """The model's view of a count (memoised per count object)."""
    hit = _FEATURES.get(id(count))
    if hit is not None and hit[0] is count:
        return hit[1]
    kinds = count.kind_codes()
    compute = np.isin(kinds, (GEMM, CONV, ATTENTION))
    index = {GEMM: 0, CONV: 1, ATTENTION: 2}
    klass = np.array([index[int(k)] for k in kinds[compute]], dtype=np.int8)
    memory = {
        "elementwise": float(count.bytes[kinds == ELEMENTWISE].sum()),
        "norm": float(count.bytes[kinds == NORM].sum()),
        "copy": float(count.bytes[kinds == COPY].sum()),
    }
    feats = CallFeatures(
        flops=count.flops[compute],
        bytes=count.bytes[compute],
        klass=klass,
        fp32=count.fp32_mask()[compute],
        memory_bytes=memory,
        kernels=count.kernels,
    )
    if len(_FEATURES) >= _FEATURES_KEPT:
        _FEATURES.clear()
    _FEATURES[id(count)] = (count, feats)
    return feats


@dataclass(frozen=True)
class CallTime:
    """One call's seconds by what bounds them: compute-bound kernels, memory-bound kernels and floors, the host."""

    compute_s: float  # kernels whose math takes longer than their bytes
    memory_s: float  # kernels whose bytes take longer (every element-wise, norm and copy kernel)
    floor_s: float  # launch and tail of every kernel
    host_s: float  # Python dispatch of every op
    total_s: float  # device (compute + memory + floor) against host, by the smooth maximum

    @property
    def device_s(self) -> float:
        return self.compute_s + self.memory_s + self.floor_s


def call_breakdown(
    count: OpCount, gpu: GpuSpec, dtype: str, c: ModelConstants | None = None, *, tf32: bool = False
) -> CallTime:
    """Seconds of one component call on ``gpu``, split by what bounds them (see :class:`CallTime`).

    ``tf32``: fp32 GEMMs run on TF32 tensor cores (see :func:`_peaks`).
    """
    c = c or shipped_constants()
    f = features(count)
    fam = family(gpu)
    half, fp32, conv32, attention32 = _peaks(gpu, dtype, tf32)
    bandwidth = gpu.bandwidth_gbs * 1e9
    legacy = c.legacy_mma[fam]
    e = np.array([min(1.0, c.compute_eff[k] * (legacy if k in LEGACY_MMA_CLASSES else 1.0)) for k in COMPUTE_CLASSES])
    m = {g: min(1.0, c.memory_eff[g] * c.arch_memory[fam]) for g in MEMORY_GROUPS}
    peak32 = np.select([f.klass == 0, f.klass == 1], [fp32, conv32], attention32)
    peak = np.where(f.fp32, peak32, half)
    compute = f.flops / (peak * e[f.klass]) if f.flops.size else f.flops
    operand = np.array([m[g] for g in OPERAND_GROUPS])
    moved = f.bytes / (bandwidth * operand[f.klass])
    bound = compute >= moved
    compute_s = float(compute[bound].sum())
    memory_s = float(moved[~bound].sum()) + sum(b / (bandwidth * m[g]) for g, b in f.memory_bytes.items())
    floor_s = f.kernels * c.kernel_floor_s
    host = f.kernels * c.dispatch_s
    device = compute_s + memory_s + floor_s
    total = float((device**SMOOTH_MAX_P + host**SMOOTH_MAX_P) ** (1.0 / SMOOTH_MAX_P))
    return CallTime(compute_s, memory_s, floor_s, host, total)


def call_time_s(
    count: OpCount, gpu: GpuSpec, dtype: str, c: ModelConstants | None = None, *, tf32: bool = False
) -> float:
    """Seconds of one component call on ``gpu``: device time of its kernels against its host dispatch time."""
    return call_breakdown(count, gpu, dtype, c, tf32=tf32).total_s


def _weights(profile: WorkloadProfile, role: str, component: str, count: OpCount) -> float:
    return float(profile.weights_by_component.get(f"{role}/{component}", count.weight_bytes))


def offload_s_by_stage(profile: WorkloadProfile, gpu: GpuSpec, c: ModelConstants | None = None) -> dict[str, float]:
    """Seconds per pipeline call that CPU offload adds, by stage (0 without offload)."""
    c = c or shipped_constants()
    memory = profile.workload.memory
    out = dict.fromkeys(STAGES, 0.0)
    if memory not in ("model_cpu_offload", "sequential_cpu_offload"):
        return out
    link = host_link_gbs(gpu) * 1e9 * c.link_eff
    moved: set[tuple[str, str]] = set()
    for part in profile.parts:
        key = (part.role, part.component)
        weight = _weights(profile, part.role, part.component, part.count)
        if memory == "model_cpu_offload":
            if key not in moved:  # moved in once per pipeline call, when the component is first called
                out[part.stage] += weight / link
                moved.add(key)
        else:  # every call streams every leaf module in
            modules = profile.leaf_modules.get(f"{part.role}/{part.component}", 0)
            out[part.stage] += part.repeats * (weight / link + modules * c.module_s)
    return out


@dataclass(frozen=True)
class StageTimes:
    """Per-image seconds by stage: kernel time and offload transfer kept apart for calibration, and the fixed
    per-call overhead."""

    roofline_s: dict[str, float]
    offload_s: dict[str, float]
    overhead_s: float = 0.0

    def total(self) -> float:
        return sum(self.roofline_s.values()) + sum(self.offload_s.values()) + self.overhead_s


def stage_times(
    profile: WorkloadProfile, gpu: GpuSpec, constants: ModelConstants | None = None, *, tf32: bool = False
) -> StageTimes:
    """Default (uncalibrated) per-image stage times of a counted workload on ``gpu`` (``tf32``: TF32 matmuls)."""
    c = constants or shipped_constants()
    w = profile.workload
    roof = dict.fromkeys(STAGES, 0.0)
    for part in profile.parts:
        call = call_time_s(part.count, gpu, part.dtype or w.dtype, c, tf32=tf32)
        roof[part.stage] += part.repeats * call / profile.images
    off = {s: v / profile.images for s, v in offload_s_by_stage(profile, gpu, c).items()}
    return StageTimes(roofline_s=roof, offload_s=off, overhead_s=c.call_overhead_s / profile.images)


Limiter = Literal["compute", "memory", "host"]


@dataclass(frozen=True)
class StageLimits:
    """Per-image seconds of one stage by what bounds them, and the limiter the model names for the stage."""

    compute_s: float
    memory_s: float  # memory-bound kernels and kernel floors
    host_s: float

    @property
    def limiter(self) -> Limiter:
        """``host`` when dispatch outlasts the device, else whichever of compute and memory takes longer."""
        if self.host_s > self.compute_s + self.memory_s:
            return "host"
        return "compute" if self.compute_s >= self.memory_s else "memory"


def stage_limits(
    profile: WorkloadProfile, gpu: GpuSpec, constants: ModelConstants | None = None
) -> dict[str, StageLimits]:
    """What bounds each stage of a workload on ``gpu`` in the model: where it is compute-bound, its time must grow
    with its FLOPs; where the host bounds it (small calls on a fast GPU), more pixels can cost almost nothing."""
    c = constants or shipped_constants()
    totals = {s: [0.0, 0.0, 0.0] for s in STAGES}
    for part in profile.parts:
        t = call_breakdown(part.count, gpu, part.dtype or profile.workload.dtype, c)
        for i, v in enumerate((t.compute_s, t.memory_s + t.floor_s, t.host_s)):
            totals[part.stage][i] += part.repeats * v / profile.images
    return {s: StageLimits(*v) for s, v in totals.items()}


def denoiser_kind(profile: WorkloadProfile) -> str:
    """``dit`` when the denoiser is a transformer, else ``unet`` (how projection errors are grouped)."""
    return "dit" if any(p.component == "transformer" for p in profile.stage_parts("denoise")) else "unet"


__all__ = [
    "DEFAULT_EFF_SOURCE",
    "FAMILIES",
    "OP_CLASSES",
    "PREVIOUS_GENERATION",
    "CallTime",
    "ModelConstants",
    "StageLimits",
    "StageTimes",
    "call_breakdown",
    "call_time_s",
    "constants_path",
    "denoiser_kind",
    "family",
    "host_link_gbs",
    "offload_s_by_stage",
    "shipped_constants",
    "stage_limits",
    "stage_times",
    "tf32_tflops",
]

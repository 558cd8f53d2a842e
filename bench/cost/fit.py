"""Fitting the op-level model to published timings, and validating it by cross-validation.

The fit is robust least squares on log time (``scipy.optimize.least_squares``, soft-L1 loss, ``f_scale`` 0.1: errors
beyond ~10% count linearly, so one odd figure cannot drag the constants) over the ``use: fit`` rows of the dataset
(:mod:`bench.cost.timings`), with weak log-normal priors on every constant (:data:`PARAMS`: a physically plausible
centre and a spread of about a factor e) so that a constant no row constrains — the offload costs when the offload
rows are held out — stays at its prior instead of wandering. A constant can be centred on another's fitted value
instead (``ParamSpec.tied_to``): Blackwell, with no published row, on Hopper's, its nearest measured generation;
copies on element-wise kernels, which stream alike. Cross-validation holds out all
rows of one GPU (leave-one-GPU-out) or of one model (leave-one-model-out), refits on the rest and projects the
held-out rows: those residuals are the honest error of projecting a GPU or a model the fit never saw, and the
interval on every projected figure comes from them (:mod:`bench.cost.intervals`).

Every row is projected by the same code as any workload (:func:`bench.cost.roofline.call_time_s` on the same
counts); for speed the fit evaluates all rows at once from a flattened view of their kernels, and a test checks
that both give the same seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.cost.catalog import GpuSpec
from bench.cost.counting.ops import OpCount
from bench.cost.roofline import (
    COMPUTE_CLASSES,
    FAMILIES,
    LEGACY_MMA_CLASSES,
    LEGACY_MMA_FAMILIES,
    MEMORY_GROUPS,
    OPERAND_GROUPS,
    PREVIOUS_GENERATION,
    REFERENCE_FAMILY,
    SMOOTH_MAX_P,
    STREAM_GROUPS,
    ModelConstants,
    _peaks,
    family,
    features,
    host_link_gbs,
)
from bench.cost.timings import RowCase

SOFT_L1_SCALE = 0.1  # log-residual where the soft-L1 loss turns linear (about 10%)


@dataclass(frozen=True)
class ParamSpec:
    """One fitted constant: its prior centre, prior spread (in log units) and bounds."""

    name: str
    prior: float
    sigma: float
    low: float
    high: float
    tied_to: str | None = None  # the prior is centred on this constant's fitted value, not on ``prior``


def _params() -> tuple[ParamSpec, ...]:
    specs = [
        # fractions of the dense tensor peak large GEMMs / convolutions / flash attention reach in eager PyTorch
        ParamSpec("e_gemm", 0.6, 1.0, 0.05, 1.0),
        ParamSpec("e_conv", 0.5, 1.0, 0.05, 1.0),
        ParamSpec("e_attention", 0.4, 1.0, 0.05, 1.0),
        # fractions of the DRAM bandwidth streaming kernels reach (above 1: an L2-resident working set); copies
        # (concatenations, dtype casts, gathers) stream like element-wise kernels: their fraction is tied to it,
        # else held-out families traded one against the other (the fit without SDXL halved element-wise bandwidth)
        *(ParamSpec(f"m_{g}", 0.7, 1.0, 0.05, 3.0) for g in MEMORY_GROUPS if g != "copy"),
        ParamSpec("m_copy", 0.7, 0.3, 0.05, 3.0, "m_elementwise"),
        ParamSpec("kernel_floor_s", 3e-6, 1.0, 1e-7, 5e-5),  # launch + tail of a small kernel
        ParamSpec("dispatch_s", 20e-6, 1.0, 1e-6, 2e-4),  # host time per eager op (Python, dispatcher, launch)
        ParamSpec("call_overhead_s", 0.05, 1.5, 1e-4, 2.0),  # per pipeline call: setup, post-processing
        ParamSpec("link_eff", 0.35, 1.0, 0.02, 1.0),  # of the PCIe peak: pageable copies reach about a third
        ParamSpec("module_s", 3e-4, 1.5, 1e-6, 1e-2),  # per module moved by sequential offload (hooks)
    ]
    for fam in FAMILIES:
        if fam == REFERENCE_FAMILY:
            continue
        tie = PREVIOUS_GENERATION.get(fam)
        # The share of DRAM bandwidth streaming kernels reach is a property of the memory system: within about 25%
        # of Ampere's unless rows say otherwise (Ada's 72 MB L2 does). A loose prior let the two H100 parts'
        # few rows pull the family anywhere when one of them was held out.
        specs.append(ParamSpec(f"arch_memory_{fam}", 1.0, 0.25, 0.2, 3.0, f"arch_memory_{tie}" if tie else None))
        if fam in LEGACY_MMA_FAMILIES:
            # FlashAttention-2 reaches 35% of the H100's dense peak (FlashAttention-3, arXiv:2407.08608) against
            # 50-73% of the A100's (FlashAttention-2, arXiv:2307.08691): 0.35 / 0.615 = 0.57 of Ampere's fraction
            specs.append(ParamSpec(f"legacy_mma_{fam}", 0.57, 0.3, 0.1, 1.0, f"legacy_mma_{tie}" if tie else None))
    return tuple(specs)


PARAMS = _params()
NAMES = tuple(p.name for p in PARAMS)


def to_constants(x: np.ndarray, source: str = "") -> ModelConstants:
    return ModelConstants.from_params(dict(zip(NAMES, np.exp(x).tolist(), strict=True)), source=source)


class Design:
    """All fitted rows flattened: their compute kernels, memory-class bytes, kernel counts and offload terms."""

    def __init__(self, cases: Sequence[RowCase]) -> None:
        self.cases = list(cases)
        self.observed = np.array([c.row.seconds for c in self.cases])
        gpus: list[GpuSpec] = []
        gpu_index: dict[str, int] = {}
        seg_point: list[int] = []
        seg_gpu: list[int] = []
        seg_weight: list[float] = []
        seg_kernels: list[int] = []
        seg_mem: list[list[float]] = []
        k_seg: list[np.ndarray] = []
        k_flops: list[np.ndarray] = []
        k_bytes: list[np.ndarray] = []
        k_class: list[np.ndarray] = []
        k_fp32: list[np.ndarray] = []
        self.off_bytes = np.zeros(len(self.cases))
        self.off_modules = np.zeros(len(self.cases))
        self.overhead = np.zeros(len(self.cases))
        for i, case in enumerate(self.cases):
            if case.gpu.id not in gpu_index:
                gpu_index[case.gpu.id] = len(gpus)
                gpus.append(case.gpu)
            g = gpu_index[case.gpu.id]
            row, prof = case.row, case.profile
            scale = {"step": 1.0 / row.steps, "image": 1.0 / prof.images, "call": 1.0}[row.measure]
            parts = prof.stage_parts("denoise") if row.measure == "step" else list(prof.parts)
            for part in parts:
                f = features(part.count)
                s = len(seg_point)
                seg_point.append(i)
                seg_gpu.append(g)
                seg_weight.append(part.repeats * scale)
                seg_kernels.append(f.kernels)
                seg_mem.append([f.memory_bytes[m] for m in STREAM_GROUPS])
                k_seg.append(np.full(f.flops.size, s))
                k_flops.append(f.flops)
                k_bytes.append(f.bytes)
                k_class.append(f.klass)
                k_fp32.append(f.fp32)
            self.off_bytes[i], self.off_modules[i] = _offload_terms(case, scale)
            self.overhead[i] = 0.0 if row.measure == "step" else scale
        self.gpus = gpus
        self.seg_point = np.array(seg_point)
        self.seg_gpu = np.array(seg_gpu)
        self.seg_weight = np.array(seg_weight)
        self.seg_kernels = np.array(seg_kernels, dtype=float)
        self.seg_mem = np.array(seg_mem, dtype=float)
        self.k_seg = np.concatenate(k_seg)
        self.k_flops = np.concatenate(k_flops)
        self.k_bytes = np.concatenate(k_bytes)
        self.k_class = np.concatenate(k_class).astype(int)
        self.k_fp32 = np.concatenate(k_fp32)
        self.k_legacy = np.isin(self.k_class, [COMPUTE_CLASSES.index(k) for k in LEGACY_MMA_CLASSES])
        # per point: half, fp32 GEMM (TF32 where the row allowed it), fp32 convolution, fp32 attention
        peaks = np.array([_peaks(c.gpu, c.row.dtype, c.row.tf32) for c in self.cases])
        k_peaks = peaks[self.seg_point[self.k_seg]]
        k_col = np.where(self.k_fp32, np.select([self.k_class == 0, self.k_class == 1], [1, 2], 3), 0)
        self.k_peak = k_peaks[np.arange(k_col.size), k_col]
        self.gpu_bw = np.array([gpu.bandwidth_gbs * 1e9 for gpu in gpus])
        self.gpu_family = np.array([FAMILIES.index(family(gpu)) for gpu in gpus])
        self.point_link = np.array([host_link_gbs(c.gpu) * 1e9 for c in self.cases])

    def predict(self, c: ModelConstants) -> np.ndarray:
        """Projected seconds of every row's published measure."""
        arch_m = np.array([c.arch_memory[f] for f in FAMILIES])
        legacy = np.array([c.legacy_mma[f] for f in FAMILIES])
        eff = np.array([c.compute_eff[k] for k in COMPUTE_CLASSES])
        fam_seg = self.gpu_family[self.seg_gpu]
        bw_seg = self.gpu_bw[self.seg_gpu]
        k_fam = fam_seg[self.k_seg]
        e = np.minimum(1.0, eff[self.k_class] * np.where(self.k_legacy, legacy[k_fam], 1.0))
        operand = np.array([c.memory_eff[g] for g in OPERAND_GROUPS])[self.k_class]
        m_mm = np.minimum(1.0, operand * arch_m[k_fam])
        t_kernel = np.maximum(self.k_flops / (self.k_peak * e), self.k_bytes / (bw_seg[self.k_seg] * m_mm))
        device = np.bincount(self.k_seg, weights=t_kernel, minlength=self.seg_point.size)
        m_groups = np.array([c.memory_eff[g] for g in STREAM_GROUPS])
        m_seg = np.minimum(1.0, m_groups[None, :] * arch_m[fam_seg][:, None])
        device = device + (self.seg_mem / (bw_seg[:, None] * m_seg)).sum(axis=1)
        device = device + self.seg_kernels * c.kernel_floor_s
        host = self.seg_kernels * c.dispatch_s
        call = (device**SMOOTH_MAX_P + host**SMOOTH_MAX_P) ** (1.0 / SMOOTH_MAX_P)
        pred = np.bincount(self.seg_point, weights=call * self.seg_weight, minlength=len(self.cases)).astype(float)
        offload = self.off_bytes / (self.point_link * c.link_eff) + self.off_modules * c.module_s
        return np.asarray(pred + offload + self.overhead * c.call_overhead_s, dtype=float)

    def subset(self, keep: np.ndarray) -> Design:
        return Design([c for c, k in zip(self.cases, keep, strict=True) if k])


def _offload_terms(case: RowCase, scale: float) -> tuple[float, float]:
    """(bytes over the host link, modules moved) per row measure under the row's memory option."""
    prof, memory = case.profile, case.row.memory
    if memory == "none":
        return 0.0, 0.0
    nbytes = modules = 0.0
    moved: set[tuple[str, str]] = set()
    parts = prof.stage_parts("denoise") if case.row.measure == "step" else list(prof.parts)
    for part in parts:
        key = (part.role, part.component)
        weight = float(prof.weights_by_component.get(f"{part.role}/{part.component}", part.count.weight_bytes))
        if memory == "model_cpu_offload":
            nbytes += 0.0 if key in moved else weight
            moved.add(key)
        else:
            nbytes += part.repeats * weight
            modules += part.repeats * prof.leaf_modules.get(f"{part.role}/{part.component}", 0)
    return nbytes * scale, modules * scale


@dataclass(frozen=True)
class FitResult:
    x: np.ndarray  # log of the constants, in NAMES order
    residuals: np.ndarray  # log(projected / published) of the fitted rows
    nfev: int

    @property
    def params(self) -> dict[str, float]:
        return dict(zip(NAMES, np.exp(self.x).tolist(), strict=True))

    def constants(self, source: str = "") -> ModelConstants:
        return to_constants(self.x, source)


def fit(design: Design, x0: np.ndarray | None = None) -> FitResult:
    """Robust (soft-L1) least squares on log time with weak log-normal priors on every constant."""
    from scipy.optimize import least_squares

    prior = np.log([p.prior for p in PARAMS])
    sigma = np.array([p.sigma for p in PARAMS])
    tied = np.array([NAMES.index(p.tied_to) if p.tied_to else -1 for p in PARAMS])
    is_tied = tied >= 0
    low = np.log([p.low for p in PARAMS])
    high = np.log([p.high for p in PARAMS])
    log_obs = np.log(design.observed)

    def residuals(x: np.ndarray) -> np.ndarray:
        pred = design.predict(to_constants(x))
        centre = np.where(is_tied, x[np.maximum(tied, 0)], prior)
        return np.concatenate([np.log(pred) - log_obs, (x - centre) / sigma * SOFT_L1_SCALE])

    start = np.clip(prior if x0 is None else x0, low + 1e-9, high - 1e-9)
    out = least_squares(residuals, start, bounds=(low, high), loss="soft_l1", f_scale=SOFT_L1_SCALE, x_scale=1.0)
    return FitResult(x=out.x, residuals=np.log(design.predict(to_constants(out.x))) - log_obs, nfev=int(out.nfev))


def cross_validate(design: Design, key: Callable[[RowCase], str], x0: np.ndarray | None = None) -> np.ndarray:
    """Held-out log residuals: for each group (``key``), refit without its rows and project them."""
    groups = np.array([key(c) for c in design.cases])
    held = np.empty(len(design.cases))
    for group in sorted(set(groups)):
        out = groups == group
        if out.all():  # nothing left to fit on
            held[out] = np.nan
            continue
        result = fit(design.subset(~out), x0)
        held[out] = np.log(design.subset(out).predict(result.constants())) - np.log(design.observed[out])
    return held


def legacy_seconds(case: RowCase) -> float:
    """The previous roofline, kept to report the before/after error on the same rows: per call
    ``max(FLOPs / (peak x 0.55), bytes / (bandwidth x 0.25))`` (one pair fitted to SD 1.5), offload at the PCIe 4.0
    ceiling (31.5 GB/s): each part's weights once per pipeline call (model) or on every call (sequential)."""
    prof, row = case.profile, case.row
    scale = {"step": 1.0 / row.steps, "image": 1.0 / prof.images, "call": 1.0}[row.measure]
    parts = prof.stage_parts("denoise") if row.measure == "step" else list(prof.parts)
    total = 0.0
    for part in parts:
        count: OpCount = part.count
        compute = count.total_flops / (case.gpu.peak_tflops(row.dtype) * 1e12 * 0.55)
        memory = count.total_bytes / (case.gpu.bandwidth_gbs * 1e9 * 0.25)
        total += part.repeats * max(compute, memory)
        if row.memory == "model_cpu_offload":
            total += count.weight_bytes / 31.5e9
        elif row.memory == "sequential_cpu_offload":
            total += part.repeats * count.weight_bytes / 31.5e9
    return total * scale


def summarise(log_residuals: np.ndarray) -> dict[str, float]:
    """Median, p90 and worst absolute relative error of log residuals (error = projected / published - 1)."""
    if log_residuals.size == 0:
        return {"n": 0, "median": math.nan, "p90": math.nan, "worst": math.nan}
    errors = np.abs(np.expm1(log_residuals))
    worst = float(np.expm1(log_residuals[np.argmax(np.abs(log_residuals))]))
    return {
        "n": int(log_residuals.size),
        "median": float(np.median(errors)),
        "p90": float(np.quantile(errors, 0.9)),
        "worst": worst,
    }


__all__ = [
    "NAMES",
    "PARAMS",
    "Design",
    "FitResult",
    "ParamSpec",
    "cross_validate",
    "fit",
    "legacy_seconds",
    "summarise",
    "to_constants",
]

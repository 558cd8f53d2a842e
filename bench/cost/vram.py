"""Peak VRAM estimate per dtype and memory option: weights + activations + workspace.

Units: GiB (2**30 bytes), which is what vendors mean by the "GB" of a card's memory (a "24 GB" RTX 4090
reports 24564 MiB). Sizes quoted in 10**9 bytes are 7 % larger: FLAN-UL2's 8.72 B distinct parameters are
17.4e9 bytes = 16.25 GiB in fp16.

What is resident at the peak, per memory option (diffusers semantics):

- ``none`` / ``attention_slicing``: every component of every pipeline the task uses is on the GPU; the peak adds
  the largest call peak of any component call. (Attention is counted as a fused kernel, so slicing changes
  nothing here.)
- ``model_cpu_offload``: one whole component at a time (the hook of the next component moves the previous one
  out before it runs); the peak is the largest of (a component's weights + its own call peak).
- ``sequential_cpu_offload``: one leaf module's weights at a time; the peak is the largest call peak plus the
  largest leaf module.

A call's peak is counted at the call's real batch (:mod:`bench.cost.counting.ops`), which is what makes memory grow
with images per call: the denoiser runs at twice the image batch under classifier-free guidance, and the VAE or
MoVQ decodes the whole batch of images at once (diffusers decodes in one call unless VAE slicing is on), which is
where the peak of an image model sits. It is the larger of

- the live tensors: every op output still referenced (plus the call's inputs), and
- the live tensors while a convolution runs plus its transient cuDNN workspace: a copy of its input, and of its
  output too where it computes in fp32 (eager convolutions run on channels-first tensors, which the tensor-core
  kernels read and write through layout copies).

The live tensors alone undercount the decoders: SDXL decoding 4 images of 1024x1024 (in fp32, its VAE's
``force_upcast``) holds 12 GiB of live tensors, but its published allocator peaks under model and sequential offload
are 20.2 and 19.9 GiB; FLUX.1 grows 1.85 GiB per image where its bf16 decode's live tensors grow 1.50. The
workspace copies give 19.2 GiB and 1.87 GiB per image, with the same rule for every model: what it is per precision
is read off those published peaks (cuDNN does not document it), and ``kbench projection-check --vram`` checks it
against every sourced peak in ``bench/data/published_vram.yaml``. There is no per-model factor. Where memory is
short, cuDNN falls back to algorithms with less workspace, so a card slightly below the estimate may still run it.

The text encoders' outputs, the latents and the scheduler state also stay on the device through the call; they are
megabytes (SDXL's prompt embeddings at 4 images: 2 x 4 x 77 x 2048 fp16 values, 2.4 MiB) and are not added.

``allocated_gib`` (weights + activations) is what ``torch.cuda.max_memory_allocated`` reports; the total adds the
workspace allowance for what the allocator does not count (CUDA context, cached free blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.cost.counting.profile import WorkloadProfile
from bench.results import RunRecord

GIB = float(2**30)
MIB = float(2**20)
# Allowance for the CUDA context, cuBLAS workspaces and caching-allocator slack. An assumption, not a sourced figure:
# a measured record replaces the whole estimate (see ``measured_vram_gib``).
DEFAULT_WORKSPACE_GIB = 1.0


@dataclass(frozen=True)
class VramEstimate:
    """Estimated peak device memory of one workload under one memory option."""

    memory: str
    weights_gib: float
    activations_gib: float  # the peak call's live tensors and convolution workspace at its batch
    workspace_gib: float
    resident: str  # what is on the GPU at the peak, in words

    @property
    def allocated_gib(self) -> float:
        """What PyTorch's caching allocator holds at the peak (``torch.cuda.max_memory_allocated``)."""
        return self.weights_gib + self.activations_gib

    @property
    def total_gib(self) -> float:
        return self.allocated_gib + self.workspace_gib


def call_peaks(profile: WorkloadProfile) -> dict[str, int]:
    """Per component (``role/component``), the largest call peak in bytes over its calls in the workload."""
    peaks: dict[str, int] = {}
    for part in profile.parts:
        key = f"{part.role}/{part.component}"
        peaks[key] = max(peaks.get(key, 0), part.count.peak_bytes)
    return peaks


def estimate_vram(
    profile: WorkloadProfile, memory: str | None = None, *, workspace_gib: float = DEFAULT_WORKSPACE_GIB
) -> VramEstimate:
    """Estimate the peak for ``profile`` under ``memory`` (default: the workload's own option)."""
    memory = memory or profile.workload.memory
    weights = profile.weights_by_component
    act_by_comp = call_peaks(profile)
    max_act = max(act_by_comp.values(), default=0)
    if memory == "model_cpu_offload":
        key = max(act_by_comp, key=lambda k: weights.get(k, 0) + act_by_comp[k], default="")
        w_bytes, a_bytes = weights.get(key, 0), act_by_comp.get(key, 0)
        resident = f"one component at a time; peak at {key or 'none'}"
    elif memory == "sequential_cpu_offload":
        w_bytes, a_bytes = max(profile.largest_leaf_bytes.values(), default=0), max_act
        resident = "one leaf module at a time"
    else:
        w_bytes, a_bytes = sum(weights.values()), max_act
        resident = f"all {len(weights)} components resident"
    return VramEstimate(
        memory=memory,
        weights_gib=w_bytes / GIB,
        activations_gib=a_bytes / GIB,
        workspace_gib=workspace_gib,
        resident=resident,
    )


def measured_vram_gib(record: RunRecord) -> float | None:
    """A record's measured peak in GiB: NVML device peak minus the pre-load baseline, else torch's reserved peak."""
    mem = record.memory
    if mem.vram_used_peak_mb is not None:
        return (mem.vram_used_peak_mb - (mem.vram_baseline_mb or 0.0)) / 1024.0  # the samplers report MiB
    if mem.torch_reserved_peak_mb is not None:
        return mem.torch_reserved_peak_mb / 1024.0
    if mem.torch_allocated_peak_mb is not None:
        return mem.torch_allocated_peak_mb / 1024.0
    return None


__all__ = ["DEFAULT_WORKSPACE_GIB", "GIB", "VramEstimate", "call_peaks", "estimate_vram", "measured_vram_gib"]

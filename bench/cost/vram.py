"""Peak VRAM estimate per dtype and memory option: weights + activations + workspace.

Units: GiB (2**30 bytes), which is what vendors mean by the "GB" of a card's memory (a "24 GB" RTX 4090
reports 24564 MiB). Sizes quoted in 10**9 bytes are 7 % larger: FLAN-UL2's 8.72 B distinct parameters are
17.4e9 bytes = 16.25 GiB in fp16.

What is resident at the peak, per memory option (diffusers semantics):

- ``none`` / ``attention_slicing``: every component of every pipeline the task uses is on the GPU; the peak adds
  the largest activation peak of any component call. (Attention is counted as a fused kernel, so slicing
  changes nothing here.)
- ``model_cpu_offload``: one whole component at a time; the peak is the largest component's weights plus its
  own activations.
- ``sequential_cpu_offload``: one leaf module's weights at a time; the peak is the largest activation peak plus
  the largest leaf module.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.cost.counting.profile import WorkloadProfile
from bench.results import RunRecord

GIB = float(2**30)
MIB = float(2**20)
# Allowance for the CUDA context, cuBLAS/cuDNN workspaces and caching-allocator slack. An assumption, not a
# sourced figure: a measured record replaces the whole estimate (see ``measured_vram_gib``).
DEFAULT_WORKSPACE_GIB = 1.0


@dataclass(frozen=True)
class VramEstimate:
    """Estimated peak device memory of one workload under one memory option."""

    memory: str
    weights_gib: float
    activations_gib: float
    workspace_gib: float
    resident: str  # what is on the GPU at the peak, in words

    @property
    def total_gib(self) -> float:
        return self.weights_gib + self.activations_gib + self.workspace_gib


def estimate_vram(
    profile: WorkloadProfile, memory: str | None = None, *, workspace_gib: float = DEFAULT_WORKSPACE_GIB
) -> VramEstimate:
    """Estimate the peak for ``profile`` under ``memory`` (default: the workload's own option)."""
    memory = memory or profile.workload.memory
    weights = profile.weights_by_component
    act_by_comp: dict[str, int] = {}
    for part in profile.parts:
        key = f"{part.role}/{part.component}"
        act_by_comp[key] = max(act_by_comp.get(key, 0), part.count.activation_peak_bytes)
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


__all__ = ["DEFAULT_WORKSPACE_GIB", "GIB", "VramEstimate", "estimate_vram", "measured_vram_gib"]

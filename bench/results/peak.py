"""A record's peak memory: the one definition ``kbench run``, the report, the baseline and the optimise ranking show.

On a GPU the figure that decides whether a workload fits is the device's own count of memory in use (NVML's
``used``, which includes the CUDA context and the allocator's cache), so it comes first. Where NVML was not
read, torch's reserved peak is the nearest figure (what the caching allocator held from the device); the
allocated peak (live tensors only) is the last GPU fallback, as it understates what the device had to give. A
run on the CPU has no VRAM: its figure is the process's resident memory, labelled so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.results.schema import RunRecord

MemoryKind = Literal["VRAM", "RSS"]


@dataclass(frozen=True)
class PeakMemory:
    """The peak in MB, whether it is device memory or process RSS, and which counter it came from."""

    mb: float
    kind: MemoryKind
    basis: Literal["device used (NVML)", "torch reserved", "torch allocated", "process RSS"]

    def text(self) -> str:
        """``12,345 MB VRAM``: how terminal tables show it."""
        return f"{self.mb:,.0f} MB {self.kind}"


def peak_memory(record: RunRecord) -> PeakMemory | None:
    """The record's peak memory by the rule above, or None when it measured none."""
    mem = record.memory
    on_gpu = record.spec.device.split(":")[0] != "cpu"
    if on_gpu and mem.vram_used_peak_mb is not None:
        return PeakMemory(mem.vram_used_peak_mb, "VRAM", "device used (NVML)")
    if on_gpu and mem.torch_reserved_peak_mb is not None:
        return PeakMemory(mem.torch_reserved_peak_mb, "VRAM", "torch reserved")
    if on_gpu and mem.torch_allocated_peak_mb is not None:
        return PeakMemory(mem.torch_allocated_peak_mb, "VRAM", "torch allocated")
    if mem.peak_rss_mb is not None:
        return PeakMemory(mem.peak_rss_mb, "RSS", "process RSS")
    return None


__all__ = ["MemoryKind", "PeakMemory", "peak_memory"]

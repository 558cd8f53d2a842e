"""Peaks of torch's CUDA caching allocator, per stage: what the model asked for, as opposed to NVML's device view."""

from __future__ import annotations

from typing import Any

from bench.measure.samplers.base import MIB


class TorchAllocatorTracker:
    """``reset()`` at a stage start, ``peaks_mb()`` at its end. A no-op off CUDA: peaks are then ``(None, None)``.

    torch is imported only when the device is CUDA, so CPU runs and tests never pay for it here.
    """

    def __init__(self, device: str) -> None:
        self.device = device

    def _cuda(self) -> Any | None:
        if not self.device.startswith("cuda"):
            return None
        import torch

        return torch.cuda if torch.cuda.is_available() else None

    def reset(self) -> None:
        """Start a new peak window."""
        cuda = self._cuda()
        if cuda is not None:
            cuda.reset_peak_memory_stats(self.device)

    def peaks_mb(self) -> tuple[float | None, float | None]:
        """``(max allocated, max reserved)`` in MiB since the last :meth:`reset` (or process start)."""
        cuda = self._cuda()
        if cuda is None:
            return None, None
        return cuda.max_memory_allocated(self.device) / MIB, cuda.max_memory_reserved(self.device) / MIB

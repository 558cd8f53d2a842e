"""What an optimisation run records beside its timings: the settings applied, compile cost, and image quality.

Optional on :class:`~bench.results.schema.RunRecord` (``optimise``): older records and runs with every setting
at its default carry ``None``. Infinite PSNR (identical images) is stored as ``None`` in ``psnr_db`` because
JSON has no infinity; :attr:`QualityStats.psnr_min` turns it back into ``math.inf``.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

_RECORD = ConfigDict(extra="forbid")


class QualityStats(BaseModel):
    """This run's images against the baseline cell's (same workload, seed and prompts, every axis default)."""

    model_config = _RECORD
    baseline_key: str
    psnr_db: list[float | None] = Field(default_factory=list)  # per image; None: identical images (infinite)
    ssim: list[float] = Field(default_factory=list)  # per image, 1.0 for identical images
    threshold_db: float = 30.0
    changed: bool = False  # the lowest PSNR is below threshold_db: flagged "quality changed"
    clip_score: list[float] | None = None  # per image against its prompt (hub weights with open_clip only)
    note: str | None = None  # why a part is missing (no baseline images, open_clip not installed, ...)

    @property
    def psnr_min(self) -> float | None:
        """The worst image's PSNR in dB (``inf`` when every image is identical; None when nothing was compared)."""
        if not self.psnr_db:
            return None
        return min(math.inf if v is None else v for v in self.psnr_db)

    @property
    def ssim_min(self) -> float | None:
        return min(self.ssim) if self.ssim else None


class OptimiseStats(BaseModel):
    """The speed settings a run applied and what they cost at start-up."""

    model_config = _RECORD
    settings: dict[str, str | bool | float | int] = Field(default_factory=dict)  # the non-default axes
    applied: list[str] = Field(default_factory=list)  # what was done, through which library call
    sdpa_backends: list[str] | None = None  # the SDPA backends allowed inside the calls (attention: sdpa-*)
    compile_s: float | None = None  # first call after compiling less a steady call: the compile cost
    first_call_s: float | None = None  # wall time of the first call after compiling (also the first warmup call)
    graphs_compiled: int | None = None  # dynamo graphs compiled by the first call
    recompiles: int | None = None  # dynamo graphs compiled after the first call (shape or guard changes)
    quality: QualityStats | None = None


__all__ = ["OptimiseStats", "QualityStats"]

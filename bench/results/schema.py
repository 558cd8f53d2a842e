"""The versioned result schema: one :class:`RunRecord` per run, and how it is serialised and migrated.

Bump :data:`SCHEMA_VERSION` on any incompatible change and teach :func:`_migrate` to read the old form.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.errors import ResultsFormatError
from bench.results.architecture import ArchitectureInfo
from bench.results.optimise import OptimiseStats
from bench.spec import STAGES, RunSpec

# 2: optional architecture, placement, side/ab_round and optimise fields (a version-1 record reads as it is;
# a kbench that reads only version 1 now says "upgrade" instead of naming an unknown field)
SCHEMA_VERSION = 2
Status = Literal["ok", "oom", "error", "timeout", "skipped", "interrupted"]
FAILED_STATUSES = ("oom", "error", "timeout")
RETRIED_STATUSES = ("interrupted",)  # a run stopped by the user is not done: ``--resume`` runs it again

_RECORD = ConfigDict(extra="forbid")


class ErrorInfo(BaseModel):
    model_config = _RECORD
    type: str
    message: str
    traceback_tail: list[str] = Field(default_factory=list)


class Timing(BaseModel):
    """Raw per-call measurements. Seconds throughout; one entry per measured call unless noted."""

    model_config = _RECORD
    load_s: float  # building or loading the pipelines, download time excluded
    download_s: float | None = None  # fetching hub weights before loading (None: nothing was fetched)
    first_image_s: float  # from the start of loading to the first finished image
    warmup_call_s: list[float] = Field(default_factory=list)
    call_s: list[float] = Field(default_factory=list)
    per_image_s: list[float] = Field(default_factory=list)
    stage_s: dict[str, list[float]] = Field(default_factory=dict)  # stage -> seconds per measured call
    unaccounted_s: list[float] = Field(default_factory=list)  # call_s minus the sum of the stages
    step_s: list[float] = Field(default_factory=list)  # median seconds of each denoising step index
    adaptive_stop: str | None = None  # why repeats stopped: "ci", "max_repeats", "max_time", or None (fixed)


class Summary(BaseModel):
    """Statistics of seconds per image over the measured calls."""

    model_config = _RECORD
    n: int
    median_s_per_image: float
    mean_s_per_image: float
    p90_s_per_image: float
    p99_s_per_image: float
    min_s_per_image: float
    max_s_per_image: float
    cv: float
    ci95_low_s_per_image: float
    ci95_high_s_per_image: float
    images_per_s: float
    s_per_step: float | None = None
    stage_s_per_image: dict[str, float] = Field(default_factory=dict)
    unaccounted_s_per_image: float = 0.0


class MemoryStats(BaseModel):
    model_config = _RECORD
    peak_rss_mb: float | None = None
    vram_used_peak_mb: float | None = None  # NVML device memory used, whole device
    vram_baseline_mb: float | None = None  # NVML memory used before the model loaded
    torch_allocated_peak_mb: float | None = None
    torch_reserved_peak_mb: float | None = None
    stage_allocated_peak_mb: dict[str, float] = Field(default_factory=dict)


class EnergyStats(BaseModel):
    model_config = _RECORD
    energy_j_per_image: float | None = None
    method: Literal["counter", "power_integral"] | None = None
    mean_power_w: float | None = None
    max_power_w: float | None = None
    mean_gpu_util_pct: float | None = None


class StageSpan(BaseModel):
    model_config = _RECORD
    stage: str
    start_s: float
    end_s: float


class Timeline(BaseModel):
    """Sampled time series (seconds since the sampler started) with stage spans on the same clock."""

    model_config = _RECORD
    interval_s: float
    t_s: list[float] = Field(default_factory=list)
    series: dict[str, list[float | None]] = Field(default_factory=dict)
    spans: list[StageSpan] = Field(default_factory=list)


class RunRecord(BaseModel):
    """One run's full result: what ran, how it ended, what was measured, and where."""

    model_config = _RECORD
    schema_version: int = SCHEMA_VERSION
    run_key: str
    spec: RunSpec
    status: Status
    reason: str | None = None
    error: ErrorInfo | None = None
    timing: Timing | None = None
    summary: Summary | None = None
    memory: MemoryStats = Field(default_factory=MemoryStats)
    energy: EnergyStats = Field(default_factory=EnergyStats)
    timeline: Timeline | None = None
    env: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    placement: dict[str, str | int | None] | None = None  # executor, node, GPU ids (bench.measure.executors)
    started_at: str
    finished_at: str
    kbench_version: str
    architecture: ArchitectureInfo | None = None  # what was built (None: not recorded, older records)
    optimise: OptimiseStats | None = None  # speed settings, compile cost, quality vs baseline (optimise axes)
    side: str | None = None  # `kbench ab`: the side ("base" or "head") that measured this record
    ab_round: int | None = None  # `kbench ab`: the interleaving round (1-based) of this record

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def utc_now_iso() -> str:
    """The timestamp format of ``started_at``/``finished_at``: UTC, ISO 8601, whole seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def dump_record(record: RunRecord) -> str:
    """Serialise one record as a single JSON line (no trailing newline)."""
    return json.dumps(record.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


def _migrate(data: dict[str, Any], path: Path, lineno: int) -> dict[str, Any]:
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise ResultsFormatError(f"{path}:{lineno}: schema_version: missing or not an integer")
    if version > SCHEMA_VERSION:
        raise ResultsFormatError(
            f"{path}:{lineno}: schema_version: {version} is newer than this kbench reads ({SCHEMA_VERSION}); "
            "upgrade kbench"
        )
    if version < 1:
        raise ResultsFormatError(
            f"{path}:{lineno}: schema_version: {version} is unknown (supported: 1..{SCHEMA_VERSION})"
        )
    return data


__all__ = [
    "FAILED_STATUSES",
    "RETRIED_STATUSES",
    "SCHEMA_VERSION",
    "STAGES",
    "EnergyStats",
    "ErrorInfo",
    "MemoryStats",
    "RunRecord",
    "StageSpan",
    "Status",
    "Summary",
    "Timeline",
    "Timing",
    "dump_record",
    "utc_now_iso",
]

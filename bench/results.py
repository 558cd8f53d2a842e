"""The versioned result schema and the append-only JSONL store.

One line per run. A line is written with a single ``os.write`` on an ``O_APPEND`` descriptor and
fsynced, so a record is either wholly in the file or, if the writer was killed mid-write, a torn
last line that :func:`read_results` detects and skips with a warning. Files from many machines
merge by concatenation.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.errors import ResultsFormatError
from bench.scenario import RunSpec

SCHEMA_VERSION = 1
Status = Literal["ok", "oom", "error", "timeout", "skipped"]
FAILED_STATUSES = ("oom", "error", "timeout")
STAGES = ("text_encode", "prior", "denoise", "decode")

_RECORD = ConfigDict(extra="forbid")


class ErrorInfo(BaseModel):
    model_config = _RECORD
    type: str
    message: str
    traceback_tail: list[str] = Field(default_factory=list)


class Timing(BaseModel):
    """Raw per-call measurements. Seconds throughout; one entry per measured call unless noted."""

    model_config = _RECORD
    load_s: float
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
    started_at: str
    finished_at: str
    kbench_version: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def utc_now_iso() -> str:
    """The timestamp format of ``started_at``/``finished_at``: UTC, ISO 8601, whole seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def dump_record(record: RunRecord) -> str:
    """Serialise one record as a single JSON line (no trailing newline)."""
    return json.dumps(record.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


def append_record(path: str | Path, record: RunRecord) -> None:
    """Append one record atomically: one ``write`` on an O_APPEND descriptor, then fsync."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (dump_record(record) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _repair_torn_tail(fd, path)
        written = os.write(fd, data)
        if written != len(data):  # a short write would leave a torn line; fail loudly instead
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def _repair_torn_tail(fd: int, path: Path) -> None:
    """If a killed writer left a last line without a newline, end it so the new record starts clean."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            os.write(fd, b"\n")


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


def iter_results(path: str | Path) -> Iterator[RunRecord]:
    """Yield the records of one file. A torn final line is skipped with a warning; any other bad line is an error."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ResultsFormatError(f"{path}: cannot read results file ({exc.strerror})") from None
    lines = raw.split(b"\n")
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            # A torn line is what a killed writer leaves: the unterminated last line, or a record prefix
            # that a later append closed with a newline. Anything else is corruption.
            if lineno == len(lines) or line.lstrip().startswith(b'{"schema_version"'):
                warnings.warn(f"{path}:{lineno}: ignoring a torn line (a writer was interrupted)", stacklevel=2)
                continue
            raise ResultsFormatError(f"{path}:{lineno}: not a JSON results line") from None
        if not isinstance(data, dict):
            raise ResultsFormatError(f"{path}:{lineno}: a results line must be a JSON object")
        data = _migrate(data, path, lineno)
        try:
            yield RunRecord.model_validate(data)
        except ValidationError as err:
            e = err.errors()[0]
            field = ".".join(str(p) for p in e["loc"])
            raise ResultsFormatError(f"{path}:{lineno}: {field}: {e['msg']}") from None


def read_results(paths: Iterable[str | Path]) -> list[RunRecord]:
    """Read and concatenate result files; raise :class:`ResultsFormatError` naming file and line on corruption."""
    records: list[RunRecord] = []
    for p in paths:
        records.extend(iter_results(p))
    return records


def completed_keys(path: str | Path) -> set[str]:
    """Run keys already recorded in ``path`` (any status), for ``--resume``."""
    path = Path(path)
    if not path.exists():
        return set()
    return {r.run_key for r in iter_results(path)}


__all__ = [
    "FAILED_STATUSES",
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
    "append_record",
    "completed_keys",
    "dump_record",
    "iter_results",
    "read_results",
    "utc_now_iso",
]

"""The serving record schema: one :class:`ServeRecord` per load point and one :class:`SloRecord` per SLO search.

Serving results go to their own JSONL file (``<results>.serve.jsonl`` by default), never into an isolated-run
results file, so the readers of :class:`~bench.results.RunRecord` are untouched. Every line carries
``record_type`` (``"serve"`` or ``"serve_slo"``) and ``serve_schema_version``. Times are seconds, rates are
requests per second; one request is one prompt (``spec.images_per_prompt`` images). Field meanings are
documented in ``docs/serving.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bench.errors import ResultsFormatError
from bench.results.store import json_lines
from bench.spec import Arrivals, RunSpec, ServerKind
from bench.stats import mean, percentile

# 2: SloRecord.search_complete, and status interrupted/failed for an unfinished search. 3: p99 empty below
# MIN_P99_REQUESTS values; ServeRecord.asked_rate_per_s, capacity_per_s, arrival_rate_per_s, rate_note, slo_note.
# 4: ServeRecord.service_batch (the batch size of each request's call, so a batching server's calls can be told
# apart by size and the simulator given its per-batch service time)
SERVE_SCHEMA_VERSION = 4
MIN_P99_REQUESTS = 100  # a 99th percentile from fewer values is the maximum or next to it, not a p99
PointStatus = Literal["ok", "failed", "interrupted"]
Phase = Literal["sweep", "bisection"]

MAX_SERVE_BYTES = 256 * 1024**2  # load points with their per-request lists: far below this
_RECORD = ConfigDict(extra="forbid")


class LatencyStats(BaseModel):
    """Order statistics of one duration over the completed requests of a load point (seconds).

    ``p99_s`` is empty (not estimable) below :data:`MIN_P99_REQUESTS` values: the 99th percentile of 6 values is
    their maximum, which says nothing about the one request in a hundred. Files of versions 1 and 2 read as
    they were written (their p99 from any number of values).
    """

    model_config = _RECORD
    n: int
    mean_s: float
    p50_s: float
    p90_s: float
    p99_s: float | None
    max_s: float

    @classmethod
    def from_values(cls, values: Sequence[float]) -> LatencyStats | None:
        """``None`` for no values: a load point where nothing completed has no latency, not a zero one."""
        if not values:
            return None
        return cls(
            n=len(values),
            mean_s=mean(values),
            p50_s=percentile(values, 50),
            p90_s=percentile(values, 90),
            p99_s=percentile(values, 99) if len(values) >= MIN_P99_REQUESTS else None,
            max_s=max(values),
        )


class ServeDevice(BaseModel):
    """What the samplers in the server process saw over one load point (``None``: not sampled there)."""

    model_config = _RECORD
    peak_rss_mb: float | None = None
    vram_used_peak_mb: float | None = None
    torch_allocated_peak_mb: float | None = None
    mean_gpu_util_pct: float | None = None
    mean_power_w: float | None = None
    energy_j: float | None = None  # over the load point's window
    energy_j_per_image: float | None = None


class ServeRecord(BaseModel):
    """One load point: a server driven at one offered rate (open loop) or one concurrency (closed loop)."""

    model_config = _RECORD
    record_type: Literal["serve"] = "serve"
    serve_schema_version: int = SERVE_SCHEMA_VERSION
    serve_key: str  # run_key | server | arrivals | max batch: the identity of a serving configuration
    run_key: str  # the served workload's run key (batch size = the server's max batch)
    spec: RunSpec
    server: ServerKind
    target_url: str | None = None  # only for server "url"
    arrivals: Arrivals
    max_batch: int
    batch_window_s: float | None = None
    concurrency: int | None = None  # closed loop: requests kept in flight
    offered_rate_per_s: float | None = None  # open loop: the arrival process's mean rate
    asked_rate_per_s: float | None = None  # the listed or probed rate, when it was capped at capacity_per_s
    capacity_per_s: float | None = None  # the server's measured capacity when the point ran (None: unknown)
    arrival_rate_per_s: float | None = None  # open loop: the rate the point's sends actually came at
    achieved_rate_per_s: float  # completed requests / window_s
    rate_note: str | None = None  # why achieved differs from offered, when it does by more than 10%
    phase: Phase = "sweep"  # from the scenario's list, or a probe of the SLO bisection
    seed: int
    status: PointStatus
    reason: str | None = None  # why the point failed or was cut short
    window_s: float  # first send to last completion (or to the stop)
    sent: int
    completed: int
    failed: int
    timed_out: int
    # why requests failed or timed out: each distinct error (clipped) with its count, at most MAX_REQUEST_ERRORS
    request_errors: dict[str, int] = Field(default_factory=dict)
    latency: LatencyStats | None = None  # end to end, at the client
    queue_wait: LatencyStats | None = None  # server side: arrival at the server to the start of its batch
    service: LatencyStats | None = None  # server side: the pipeline call that served the request
    mean_batch: float | None = None  # requests per pipeline call, as the server formed them
    images_per_s: float
    slo_p99_s: float | None = None
    slo_ok: bool | None = None  # p99 <= SLO with nothing failed or timed out; None without an SLO, unless status ok,
    # or when too few requests completed to judge (slo_note says which)
    slo_note: str | None = None
    latency_s: list[float] = Field(default_factory=list)  # every completed request, in send order
    queue_wait_s: list[float] = Field(default_factory=list)
    service_s: list[float] = Field(default_factory=list)
    service_batch: list[int] = Field(default_factory=list)  # the batch size of each service_s call (version 4)
    device: ServeDevice = Field(default_factory=ServeDevice)
    env: dict[str, object] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    started_at: str
    finished_at: str
    kbench_version: str


class SloRecord(BaseModel):
    """The SLO search of one serving configuration: the highest offered rate whose p99 met the SLO."""

    model_config = _RECORD
    record_type: Literal["serve_slo"] = "serve_slo"
    serve_schema_version: int = SERVE_SCHEMA_VERSION
    serve_key: str
    run_key: str
    spec: RunSpec
    server: ServerKind
    arrivals: Arrivals
    max_batch: int
    slo_p99_s: float
    max_rate_at_slo_per_s: float | None  # the last rate met (None: no rate judged met the SLO)
    highest_failing_rate_per_s: float | None  # the first rate missed above it, the bracket's upper end (None: none)
    probes: int  # rates judged for the search, listed ones included
    status: PointStatus  # ok: the search finished; interrupted (a signal) or failed (server gone, a probe failed)
    # False: the search stopped before its bracket was narrow or its probes were used (status says why); the
    # bracket is then only what the finished points showed. Version 1 records could not say: read as True.
    search_complete: bool = True
    reason: str | None = None
    images_per_request: int = 1
    gpu: str | None = None  # catalog id the price is for (None: no priced GPU, e.g. a CPU run)
    usd_per_hour: float | None = None
    usd_per_image_at_slo: float | None = None  # $/h / (3600 x max rate x images per request)
    price_source: str | None = None
    started_at: str
    finished_at: str
    kbench_version: str


def max_rate_text(slo: SloRecord) -> str:
    """The SLO search's answer as a bracket: between the last rate met and the first missed, "at least" the
    highest rate met when none above it missed, "below" the lowest rate missed when none met, or not judged."""
    low, high = slo.max_rate_at_slo_per_s, slo.highest_failing_rate_per_s
    if low is not None and high is not None:
        return f"between {low:.4g} req/s (met) and {high:.4g} req/s (missed)"
    if low is not None:
        return f"at least {low:.4g} req/s (no rate tried above it missed)"
    if high is not None:
        return f"below {high:.4g} req/s (the lowest rate judged missed)"
    reason = slo.reason or ""
    return reason if reason.startswith("not judged") else "not judged" + (f": {reason}" if reason else "")


ServeResult = Annotated[ServeRecord | SloRecord, Field(discriminator="record_type")]
SERVE_RESULT: TypeAdapter[ServeRecord | SloRecord] = TypeAdapter(ServeResult)


def dump_serve_record(record: ServeRecord | SloRecord) -> str:
    """Serialise one record as a single JSON line (no trailing newline)."""
    return json.dumps(record.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


# The start of every line kbench writes to a serving results file: ``record_type`` is the models' first field,
# and no isolated-run record has it (those start with ``schema_version``).
_SERVE_HEAD = re.compile(rb'\s*\{\s*"record_type"\s*:\s*"serve(_slo)?"')


def looks_like_serve_results(path: str | Path) -> bool:
    """Whether ``path`` holds serving records: its first line starts the way every serving line does.

    Tells the two results files apart by their records' fields, not their names, so ``kbench report`` can take a
    serving file wherever a results file goes. False for an empty or unreadable file (its reader says why).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    return _SERVE_HEAD.match(head) is not None


def read_serve_results(path: str | Path) -> list[ServeRecord | SloRecord]:
    """The records of one serving results file, in file order.

    Read by the results store's one line reader (:func:`~bench.results.store.json_lines`): a torn line (a writer
    killed mid-write) is skipped with a warning; any other bad line raises
    :class:`~bench.errors.ResultsFormatError` naming file and line.
    """
    records: list[ServeRecord | SloRecord] = []
    for lineno, _, data in json_lines(Path(path), "serving results", MAX_SERVE_BYTES):
        version = data.get("serve_schema_version")
        if not isinstance(version, int) or not 1 <= version <= SERVE_SCHEMA_VERSION:
            raise ResultsFormatError(
                f"{path}:{lineno}: serve_schema_version: {version!r} is not one this kbench reads "
                f"(1..{SERVE_SCHEMA_VERSION})"
            )
        try:
            records.append(SERVE_RESULT.validate_python(data))
        except ValidationError as err:
            e = err.errors()[0]
            field = ".".join(str(p) for p in e["loc"])[:200]
            raise ResultsFormatError(f"{path}:{lineno}: {field}: {e['msg']}") from None
    return records


__all__ = [
    "MIN_P99_REQUESTS",
    "SERVE_RESULT",
    "SERVE_SCHEMA_VERSION",
    "Arrivals",
    "LatencyStats",
    "PointStatus",
    "ServeDevice",
    "ServeRecord",
    "ServeResult",
    "ServerKind",
    "SloRecord",
    "dump_serve_record",
    "looks_like_serve_results",
    "max_rate_text",
    "read_serve_results",
]

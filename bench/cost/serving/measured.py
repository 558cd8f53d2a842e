"""A real server's measured load points beside the simulator's prediction for that same server.

The prediction needs no isolated run. The serving records hold the server's own timing of every call it made
(``service_s``, with each call's batch size in ``service_batch``), so the simulator is given that server's
service time per batch size: its measured calls, drawn as they came (missing batch sizes fitted, as
:func:`~.service.fill_batches` says), and, as time that holds no worker, the median time a request spent outside
its call at the lightest load point (client, HTTP, the queue's hand-off). Only the queueing under load is
predicted, so where the two disagree, the queue model (one FIFO queue, the server's batching) or the machine's
speed under load differs from the server's.

Where the report also holds isolated runs of the same workload, the curve simulated from them is drawn too, as
before: the same queue from calls timed in isolation.

Every figure says what it is: a measured percentile (with ``n<100`` where a p99 cannot be estimated), or a
simulated one with its basis (exact where the queue has a closed form, else simulated to a stated p99 interval).
Calls drawn from a sample with any spread make the queue a simulated one (no closed form takes a sample of
calls); calls of one fixed time make one server, batch 1 and Poisson arrivals an exact M/D/1 queue.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.cost.serving.curves import CURVE_PRECISION, Curve, MeasuredPoint, curve_basis
from bench.cost.serving.estimate import Precision, load_point
from bench.cost.serving.point import LoadPoint
from bench.cost.serving.search import CURVE_FRACTIONS, SloResult, max_rate_at_slo, saturation_per_s
from bench.cost.serving.service import BatchTime, ServiceTimes, fill_batches, service_from_records
from bench.cost.serving.simulate import QueueConfig
from bench.results import RunRecord
from bench.results.serving import ServeRecord, SloRecord
from bench.spec import RunSpec

SERVER_SERIES = "simulated from the server's calls"
ISOLATED_SERIES = "simulated from isolated runs"
MAX_CLOSED_LEVELS = 32
QUOTED = Precision()  # a simulated figure quoted in a table: p99 within ±2% (95%), as everywhere a number is quoted


@dataclass(frozen=True)
class PointComparison:
    """One measured load point and the simulator's prediction at the same load (None: not simulated, ``note``)."""

    measured: ServeRecord
    simulated: LoadPoint | None
    note: str  # how the prediction was computed (its basis), or why there is none


@dataclass(frozen=True)
class ServerComparison:
    """One serving configuration: its points beside the prediction, and the max rate at the SLO both ways."""

    serve_key: str
    title: str
    points: tuple[PointComparison, ...]
    service_note: str  # where the simulator's service time came from, or why there is none
    slo_p99_s: float | None
    measured_slo: SloRecord | None  # the real server's SLO search (None: none was run)
    simulated_slo: SloResult | None  # the max rate the simulator gives the same server (None: not simulated)
    simulated_slo_note: str  # its basis, or why there is none


def same_workload(a: RunSpec, b: RunSpec) -> bool:
    """Whether two runs compute the same images apart from the batch size (language and seed aside)."""
    keys = ("model", "task", "width", "height", "steps", "dtype", "memory", "weights", "images_per_prompt")
    same = all(getattr(a, k) == getattr(b, k) for k in keys)
    return same and a.device.split(":")[0] == b.device.split(":")[0]


def server_service(points: Sequence[ServeRecord]) -> tuple[ServiceTimes | None, str]:
    """The server's service time per batch size from its own timed calls, or None and why not.

    Each batch size's time is the mean of its calls (so the saturation rate is the server's capacity; the
    simulator draws the calls themselves). Calls that all took the same time have no spread to draw from: they
    are fixed calls, and a queue of them with a closed form (M/D/1) is solved exactly. A record of a server at
    max batch 1 needs no batch sizes; a batching server's records before ``serve_schema_version`` 4 did not keep
    them, so its calls cannot be told apart.
    """
    max_batch = points[0].max_batch
    pooled: dict[int, list[float]] = {}
    unsized = False
    for p in points:
        sizes = p.service_batch or ([1] * len(p.service_s) if max_batch == 1 else [])
        if len(sizes) != len(p.service_s):
            unsized = True
            continue
        for b, s in zip(sizes, p.service_s, strict=True):
            if 1 <= b <= max_batch and s > 0:
                pooled.setdefault(b, []).append(s)
    if not pooled:
        if unsized:
            return None, "the calls' batch sizes are not in these records (serving results before version 4)"
        return None, "the server sent no timing of its calls (an endpoint other than kbench's servers)"
    known = {
        b: BatchTime(b, statistics.fmean(calls), "measured", samples=tuple(calls) if max(calls) > min(calls) else ())
        for b, calls in pooled.items()
    }
    service = fill_batches(known, max_batch)
    counts = ", ".join(
        f"batch {b}: {len(c)} calls, mean {statistics.fmean(c):.4g} s" for b, c in sorted(pooled.items())
    )
    fitted = "" if service.fit_note == "every batch size known" else f"; {service.fit_note}"
    return service, f"{counts}{fitted}"


def outside_call_s(points: Sequence[ServeRecord]) -> float:
    """Median per-request seconds beyond the pipeline call at the lightest measured load point.

    At light load the median request does not queue, so this is the server's and client's own time per request
    (HTTP, the queue's hand-off, encoding the image); the server's queue wait is not subtracted, as it holds
    part of that hand-off.
    """
    timed = [p for p in points if p.service_s]
    if not timed:
        return 0.0
    lightest = min(timed, key=lambda p: p.offered_rate_per_s or p.concurrency or 0)
    extra = [lat - s for lat, s in zip(lightest.latency_s, lightest.service_s, strict=False)]
    return max(0.0, statistics.median(extra)) if extra else 0.0


def _x(p: ServeRecord) -> float:
    return float((p.concurrency if p.arrivals == "closed" else p.offered_rate_per_s) or 0.0)


def _at(service: ServiceTimes, config: QueueConfig, x: float, precision: Precision) -> LoadPoint:
    if config.arrivals == "closed":
        return load_point(service, replace(config, concurrency=int(x)), None, precision)
    return load_point(service, config, x, precision)


def _predictions(
    points: Sequence[ServeRecord], service: ServiceTimes | None, config: QueueConfig, why_not: str
) -> list[PointComparison]:
    """The simulator at each measured point's load: the offered rate (open loop) or the concurrency (closed)."""
    top = saturation_per_s(service, config) if service is not None else math.inf
    out = []
    for p in points:
        x = _x(p)
        if service is None:
            out.append(PointComparison(p, None, f"not simulated: {why_not}"))
        elif p.status != "ok" or p.latency is None:
            out.append(PointComparison(p, None, f"not simulated: the point is {p.status}"))
        elif config.arrivals != "closed" and x >= top:
            note = f"not simulated: at or above the simulated capacity of {top:.4g} req/s the queue never settles"
            out.append(PointComparison(p, None, note))
        else:
            sim = _at(service, config, x, QUOTED)
            out.append(PointComparison(p, sim, sim.basis.text()))
    return out


def _series(
    service: ServiceTimes, config: QueueConfig, xs: Sequence[float], known: dict[float, LoadPoint]
) -> tuple[tuple[float, LoadPoint], ...]:
    """A curve over the measured loads and fractions of saturation (or concurrencies 1..2x the highest)."""
    if config.arrivals == "closed":
        top_c = max([1, *(int(x) for x in xs)])
        levels = sorted({int(x) for x in xs if x >= 1} | set(range(1, 2 * top_c + 1)))[:MAX_CLOSED_LEVELS]
        grid = [float(c) for c in levels]
    else:
        top = saturation_per_s(service, config)
        grid = sorted({x for x in xs if 0 < x < top} | {f * top for f in CURVE_FRACTIONS})
    return tuple((x, known.get(x) or _at(service, config, x, CURVE_PRECISION)) for x in grid)


def _simulated_slo(
    service: ServiceTimes | None, config: QueueConfig, slo: float | None, why_not: str
) -> tuple[SloResult | None, str]:
    """The simulator's max rate at the SLO for the server (open loop only: a closed loop offers no rate)."""
    if slo is None:
        return None, "no SLO"
    if service is None:
        return None, f"not simulated: {why_not}"
    if config.arrivals == "closed":
        return None, "not simulated: a closed loop has no offered rate"
    result = max_rate_at_slo(service, config, slo, QUOTED)
    if result.point is None:
        return result, result.reason or "no rate meets the SLO"
    return result, result.point.basis.text()


def compare_server(
    points: Sequence[ServeRecord],
    search: SloRecord | None,
    records: Sequence[RunRecord],
    slo: float | None,
) -> tuple[ServerComparison, Curve]:
    """One serving configuration's points beside the simulator's prediction from the same server's calls, the
    max rate at the SLO measured and simulated, and the latency-vs-load curve (plus the isolated runs' curve)."""
    points = sorted(points, key=lambda p: (_x(p), p.phase != "sweep"))
    first = points[0]
    closed = first.arrivals == "closed"
    overhead = outside_call_s([p for p in points if p.status == "ok"])
    config = QueueConfig(
        arrivals=first.arrivals,
        max_batch=first.max_batch,
        batch_window_s=first.batch_window_s or 0.0,
        overhead_s=overhead,
    )
    service, service_note = server_service([p for p in points if p.status == "ok"] or points)
    compared = _predictions(points, service, config, service_note)
    title = f"{first.spec.model} {first.spec.resolution} {first.spec.steps} steps on {first.spec.device}, "
    title += f"{first.server} server, {first.arrivals}, max batch {first.max_batch}"
    sim_slo, sim_note = _simulated_slo(service, config, slo, service_note)
    comparison = ServerComparison(first.serve_key, title, tuple(compared), service_note, slo, search, sim_slo, sim_note)
    measured = tuple(
        MeasuredPoint(
            x=_x(p),
            achieved_per_s=p.achieved_rate_per_s,
            p50_s=p.latency.p50_s,
            p99_s=math.nan if p.latency.p99_s is None else p.latency.p99_s,  # not estimable: too few requests
            slo_ok=p.slo_ok,
        )
        for p in points
        if p.status == "ok" and p.latency is not None
    )
    xs = [m.x for m in measured]
    series = []
    notes = []
    extra = f"plus {overhead * 1000:.0f} ms per request outside the call (measured at the lightest load)"
    if service is not None:
        known = {c.measured.offered_rate_per_s or 0.0: c.simulated for c in compared if c.simulated and not closed}
        line = _series(service, config, xs, {x: p for x, p in known.items() if p is not None})
        series.append((SERVER_SERIES, line))
        notes.append(f"{SERVER_SERIES} ({service_note}), {extra}; {curve_basis([p for _, p in line])}")
    isolated = [
        r for r in records if r.ok and same_workload(r.spec, first.spec) and r.spec.batch_size <= first.max_batch
    ]
    if isolated:
        iso = service_from_records(isolated, first.max_batch)
        line = _series(iso, config, xs, {})
        calls = sum(len(r.timing.call_s) for r in isolated if r.timing)
        series.append((ISOLATED_SERIES, line))
        notes.append(
            f"{ISOLATED_SERIES} ({len(isolated)} run(s), {calls} calls; {iso.fit_note}), {extra}; "
            + curve_basis([p for _, p in line])
        )
    if not series:
        notes.append(f"no simulated curve: {service_note}, and no isolated run of this workload in the report")
    x_label = "concurrency (requests in flight)" if closed else "offered rate (requests/s)"
    curve = Curve(first.serve_key, title, x_label, tuple(series), measured, slo, "; ".join(notes))
    return comparison, curve


__all__ = [
    "ISOLATED_SERIES",
    "SERVER_SERIES",
    "PointComparison",
    "ServerComparison",
    "compare_server",
    "outside_call_s",
    "same_workload",
    "server_service",
]

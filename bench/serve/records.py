"""From a load point's outcomes to its :class:`ServeRecord`, and the bounded SLO search over rates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bench import __version__
from bench.results import utc_now_iso
from bench.results.serving import MIN_P99_REQUESTS, LatencyStats, Phase, PointStatus, ServeDevice, ServeRecord
from bench.scenario.serve import ServeSpec
from bench.serve.load import LoadResult
from bench.serve.verdicts import arrival_rate, rate_note, slo_verdict
from bench.spec import RunSpec

BISECT_TOLERANCE = 0.1  # stop when the bracket is within 10% of its upper end
ROUND_S = 6  # decimals of the per-request lists (microseconds)
MAX_REQUEST_ERRORS = 5  # distinct request errors kept per load point (the most frequent)


def serve_key(spec: RunSpec, serve: ServeSpec) -> str:
    """A serving configuration's identity: the workload's run key, the server, the arrivals, the batching."""
    return "|".join((spec.run_key, serve.server, serve.arrivals, f"mb{spec.batch_size}"))


@dataclass(frozen=True)
class PointMeta:
    """What a load point was asked to be, beside what it measured."""

    spec: RunSpec
    serve: ServeSpec
    offered_rate_per_s: float | None = None
    concurrency: int | None = None
    phase: Phase = "sweep"
    seed: int = 0
    started_at: str = ""
    asked_rate_per_s: float | None = None  # the rate asked for, when the offered one was capped at capacity
    capacity_per_s: float | None = None  # the server's measured capacity when the point was offered


def load_point_record(
    meta: PointMeta,
    result: LoadResult,
    device: ServeDevice | None,
    env: dict[str, object],
    warnings: list[str],
) -> ServeRecord:
    """The record of one finished (or cut short) load point."""
    serve, spec = meta.serve, meta.spec
    ok = [o for o in result.outcomes if o.status == "ok"]
    failed = sum(o.status == "failed" for o in result.outcomes) + max(0, result.sent - len(result.outcomes))
    timed_out = sum(o.status == "timeout" for o in result.outcomes)
    errors = Counter((o.error or "no reason given")[:200] for o in result.outcomes if o.status != "ok")
    if result.sent > len(result.outcomes):
        errors["sent, but no reply was recorded before the load point stopped"] += result.sent - len(result.outcomes)
    latencies = [o.latency_s for o in ok]
    served = [o.served for o in ok if o.served is not None]
    waits = [max(0.0, s.started_s - s.arrived_s) for s in served if s.arrived_s is not None]
    service = [s.finished_s - s.started_s for s in served]
    window = result.window_s
    images = len(ok) * spec.images_per_prompt
    latency = LatencyStats.from_values(latencies)
    status: PointStatus = "interrupted" if result.interrupted else ("failed" if result.stop_reason else "ok")
    reason = result.stop_reason
    if status == "ok" and (why := _too_many_failures(result.sent, len(ok), failed)):
        status, reason = "failed", f"{why}; most often: {errors.most_common(1)[0][0]}" if errors else why
    slo_ok, slo_note = None, None  # a point cut short or failed measured less than its load: no verdict
    if serve.slo_p99_s is not None and status == "ok":
        slo_ok, slo_note = slo_verdict(latencies, serve.slo_p99_s, failed, timed_out)
    achieved = len(ok) / window if window > 0 else 0.0
    sends = [o.sent_s for o in result.outcomes]
    note = rate_note(
        offered=meta.offered_rate_per_s,
        achieved=achieved,
        arrivals=serve.arrivals,
        sends=sends,
        window=(result.started_s, result.finished_s),
        sent=result.sent,
        completed=len(ok),
        max_requests=serve.max_requests,
        capacity=meta.capacity_per_s,
    )
    if device is not None and device.energy_j is not None and images:
        device = device.model_copy(update={"energy_j_per_image": device.energy_j / images})
    return ServeRecord(
        serve_key=serve_key(spec, serve),
        run_key=spec.run_key,
        spec=spec,
        server=serve.server,
        target_url=serve.target_url,
        arrivals=serve.arrivals,
        max_batch=spec.batch_size,
        batch_window_s=serve.batch_window_s,
        concurrency=meta.concurrency,
        offered_rate_per_s=meta.offered_rate_per_s,
        asked_rate_per_s=meta.asked_rate_per_s,
        capacity_per_s=meta.capacity_per_s,
        arrival_rate_per_s=arrival_rate(sends) if meta.offered_rate_per_s is not None else None,
        achieved_rate_per_s=achieved,
        rate_note=note if status == "ok" else None,
        phase=meta.phase,
        seed=meta.seed,
        status=status,
        reason=reason,
        window_s=window,
        sent=result.sent,
        completed=len(ok),
        failed=failed,
        timed_out=timed_out,
        request_errors=dict(errors.most_common(MAX_REQUEST_ERRORS)),
        latency=latency,
        queue_wait=LatencyStats.from_values(waits),
        service=LatencyStats.from_values(service),
        mean_batch=sum(s.batch for s in served) / len(served) if served else None,
        images_per_s=images / window if window > 0 else 0.0,
        slo_p99_s=serve.slo_p99_s,
        slo_ok=slo_ok,
        slo_note=slo_note,
        latency_s=[round(v, ROUND_S) for v in latencies],
        queue_wait_s=[round(v, ROUND_S) for v in waits],
        service_s=[round(v, ROUND_S) for v in service],
        service_batch=[s.batch for s in served],
        device=device or ServeDevice(),
        env=env,
        warnings=warnings,
        started_at=meta.started_at or utc_now_iso(),
        finished_at=utc_now_iso(),
        kbench_version=__version__,
    )


MAX_FAILED_SHARE = 0.5  # a load point whose requests mostly failed measured the errors, not the server


def _too_many_failures(sent: int, completed: int, failed: int) -> str | None:
    """Why a load point that ran is still a failure: nothing completed and requests failed, or more than
    :data:`MAX_FAILED_SHARE` of its requests failed. Failed means an error; requests that timed out are a
    measurement of an overloaded server (the SLO search's points above capacity), so they never count here."""
    if failed and not completed:
        return f"none of {sent} requests completed"
    if sent and failed > MAX_FAILED_SHARE * sent:
        return f"{failed} of {sent} requests failed (more than {MAX_FAILED_SHARE:.0%})"
    return None


def failed_point_record(meta: PointMeta, reason: str, env: dict[str, object]) -> ServeRecord:
    """A load point that could not run (the server did not start, or died at an earlier point)."""
    return load_point_record(meta, LoadResult(stop_reason=reason), None, env, [])


def next_probe(results: dict[float, bool], probes_left: int) -> float | None:
    """The next rate the SLO search should try, or None when it is done.

    ``results`` maps each rate judged to whether it met the SLO (a point too short to judge is not in it).
    Without a missed rate the search doubles the highest rate; without a met one it halves the lowest; otherwise
    it bisects the bracket (highest met, lowest missed above it) until that is within :data:`BISECT_TOLERANCE`
    of its upper end.
    """
    if probes_left <= 0 or not results:
        return None
    good = [r for r, ok in results.items() if ok]
    if not good:
        return min(results) / 2
    low = max(good)
    above = [r for r, ok in results.items() if not ok and r > low]
    if not above:
        return low * 2
    high = min(above)
    if (high - low) / high <= BISECT_TOLERANCE:
        return None
    return (low + high) / 2


def slo_bracket(results: dict[float, bool]) -> tuple[float | None, float | None]:
    """(highest rate that met the SLO, lowest rate above it that missed); None where there is none."""
    good = [r for r, ok in results.items() if ok]
    low = max(good) if good else None
    missed = [r for r, ok in results.items() if not ok and (low is None or r > low)]
    return low, (min(missed) if missed else None)


def point_line(r: ServeRecord) -> str:
    """A finished load point as the progress output shows it: counts, p50 and p99 (or why there is none), the
    achieved rate and the SLO verdict."""
    load = f"{r.offered_rate_per_s:g} req/s" if r.offered_rate_per_s is not None else f"concurrency {r.concurrency}"
    if r.latency is None:
        return f"  {load}: {r.status} {r.reason or 'nothing completed'}"[:240]
    lat = r.latency
    p99 = f"p99 {lat.p99_s:.3f} s" if lat.p99_s is not None else f"p99 not estimable (n={lat.n} < {MIN_P99_REQUESTS})"
    slo = {None: "", True: " SLO ok", False: " SLO missed"}[r.slo_ok]
    slo = " SLO not judged" if r.slo_ok is None and r.slo_p99_s is not None and r.status == "ok" else slo
    return (
        f"  {load} ({r.phase}): {r.completed}/{r.sent} ok, p50 {lat.p50_s:.3f} s, {p99},"
        f" {r.achieved_rate_per_s:.3f} req/s{slo}" + (f" [{r.status}: {r.reason}]" if r.reason else "")
    )[:400]


PriceFn = Callable[[RunSpec, dict[str, object], float], "SloPrice | None"]


@dataclass(frozen=True)
class SloPrice:
    """The price of serving at the max rate: from the project's one cost function, injected by the CLI."""

    gpu: str
    usd_per_hour: float
    usd_per_image: float
    source: str


__all__ = [
    "PointMeta",
    "PriceFn",
    "SloPrice",
    "failed_point_record",
    "load_point_record",
    "next_probe",
    "point_line",
    "serve_key",
    "slo_bracket",
]

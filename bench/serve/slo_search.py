"""The SLO search over offered rates, and the record that says what it found.

The search starts from the listed rates that were judged (:func:`~bench.serve.verdicts.slo_verdict`), doubles,
halves or bisects (:func:`~bench.serve.records.next_probe`) and never offers more than the server's measured
capacity: a probe capped at a rate already tried ends it. Its answer is a bracket, the last rate met and the first
missed, or only one side of it ("at least X", "below X"), or nothing when no point could be judged.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Protocol

from bench import __version__
from bench.measure.interrupts import SweepGuard
from bench.results import utc_now_iso
from bench.results.serving import MIN_P99_REQUESTS, PointStatus, ServeRecord, SloRecord
from bench.scenario.serve import ServeSpec
from bench.serve.records import PointMeta, PriceFn, next_probe, point_line, serve_key, slo_bracket
from bench.spec import RunSpec

SAME_RATE = 0.02  # a capped probe this close to a rate already tried would measure that rate again
UNFINISHED = "the search did not finish; the bracket is only what the finished load points showed"


class ProbeSession(Protocol):
    """What the search needs of a running configuration (the runner's session)."""

    guard: SweepGuard
    gone: str | None
    env: dict[str, object]
    say: Callable[[str], None]

    def capacity(self) -> float | None: ...

    def point(self, meta: PointMeta, warnings: list[str] | None = None) -> ServeRecord: ...


def capped(rate: float, capacity: float | None) -> tuple[float, str | None]:
    """``rate``, or the measured capacity (rounded down to 3 significant digits) when it is above it, with the
    warning a record carries: open-loop arrivals above capacity only measure a queue growing without end."""
    if capacity is None or rate <= capacity:
        return rate, None
    step = 10 ** (math.floor(math.log10(capacity)) - 2)
    offered = max(step, math.floor(capacity / step) * step)
    offered = float(f"{offered:.6g}")
    why = (
        f"asked {rate:g} req/s, above the server's measured capacity {capacity:.4g} req/s (max batch over its mean "
        f"service time); offered {offered:g} req/s instead"
    )
    return offered, why


def search(
    spec: RunSpec, serve: ServeSpec, session: ProbeSession, results: dict[float, bool], tried: set[float]
) -> tuple[list[ServeRecord], PointStatus, str | None]:
    """Probe rates from ``results`` (the judged points) until the bracket is narrow or the probes are used.

    Returns the probes' records, the search's status and why it did not finish (``None``: it finished). A
    signal (``interrupted``), the server gone or a failed probe (``failed``) leave it unfinished; so does a probe
    too short to judge (``ok``: nothing went wrong, but the bracket cannot narrow).
    """
    guard, records = session.guard, []
    probes = 0
    failed: str | None = None
    stalled: str | None = None
    while not (guard.stopping or session.gone) and (asked := next_probe(results, serve.bisect_steps - probes)):
        capacity = session.capacity()
        rate, warning = capped(asked, capacity)
        if warning and any(abs(rate - t) <= SAME_RATE * t for t in tried):
            break  # capped at (about) a rate already tried: nothing above it can be offered
        probes += 1
        tried.add(rate)
        meta = PointMeta(
            spec, serve, offered_rate_per_s=rate, phase="bisection", seed=serve.seed + 100 + probes,
            asked_rate_per_s=asked if warning else None, capacity_per_s=capacity,
        )  # fmt: skip
        if warning is not None:
            session.say(f"  {warning}")
        record = session.point(meta, [warning] if warning else None)
        records.append(record)
        session.say(point_line(record))
        if record.status != "ok":
            if record.status == "failed":
                failed = f"the probe at {rate:g} req/s failed: {record.reason or 'no reason given'}"
            break
        if record.slo_ok is None:
            stalled = f"the probe at {rate:g} req/s could not be judged ({record.slo_note})"
            break
        results[rate] = record.slo_ok
    if guard.stopping:
        return records, "interrupted", f"interrupted ({signal_name(guard.stop_signal)}): {UNFINISHED}"
    if failed or session.gone:
        return records, "failed", f"{failed or session.gone}; {UNFINISHED}"
    return records, "ok", stalled


def signal_name(signum: int | None) -> str:
    """``SIGTERM`` for 15: how a record names the signal that stopped a run."""
    import signal

    with contextlib.suppress(ValueError, TypeError):
        return signal.Signals(signum or 0).name
    return "a signal"


def slo_record(
    spec: RunSpec,
    serve: ServeSpec,
    results: dict[float, bool],
    env: dict[str, object],
    price: PriceFn | None,
    status: PointStatus,
    unfinished: str | None,
) -> SloRecord:
    """The search's record: the bracket of ``results``; ``unfinished`` says why it stopped early (None: it
    finished), and only a finished search with a rate met carries a price at that rate."""
    low, high = slo_bracket(results)
    if not results and unfinished is None:
        unfinished = (
            f"not judged: no load point completed the {MIN_P99_REQUESTS} requests a p99 needs or showed a miss "
            f"(max_requests: {serve.max_requests})"
        )
    cost = price(spec, env, low * spec.images_per_prompt) if price is not None and low and not unfinished else None
    reason = unfinished or (None if low is not None else "no rate judged met the SLO")
    return SloRecord(
        serve_key=serve_key(spec, serve),
        run_key=spec.run_key,
        spec=spec,
        server=serve.server,
        arrivals=serve.arrivals,
        max_batch=spec.batch_size,
        slo_p99_s=serve.slo_p99_s or 0.0,
        max_rate_at_slo_per_s=low,
        highest_failing_rate_per_s=high,
        probes=len(results),
        status=status,
        search_complete=unfinished is None,
        reason=reason,
        images_per_request=spec.images_per_prompt,
        gpu=cost.gpu if cost else None,
        usd_per_hour=cost.usd_per_hour if cost else None,
        usd_per_image_at_slo=cost.usd_per_image if cost else None,
        price_source=cost.source if cost else None,
        started_at=utc_now_iso(),
        finished_at=utc_now_iso(),
        kbench_version=__version__,
    )


__all__ = ["UNFINISHED", "ProbeSession", "capped", "search", "signal_name", "slo_record"]

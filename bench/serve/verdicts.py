"""What a measured load point can and cannot claim: its SLO verdict, the server's capacity, and why the rate it
achieved differs from the rate it was offered.

A p99 needs at least :data:`~bench.results.serving.MIN_P99_REQUESTS` completed requests. A shorter point can
still show that the SLO was *missed*: when more of its requests are over the SLO than a server meeting it (at
most 1% over) would give by chance (:func:`binomial_tail` below :data:`MISS_EVIDENCE`). It can never show that
it was met, so it is left unjudged, and the SLO search works only from the points that were judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.results.serving import MIN_P99_REQUESTS
from bench.stats import percentile

SLO_SHARE = 0.01  # a p99 SLO allows one request in a hundred over it
MISS_EVIDENCE = 0.05  # a short point misses when a server meeting the SLO would show its slow requests this rarely
RATE_NOTE_SHARE = 0.10  # achieved and offered rates further apart than this are explained
CAPACITY_CALLS = 200  # the most recent served requests the capacity is measured from


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the chance of ``k`` or more slow requests among ``n``."""
    if k <= 0:
        return 1.0
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def slo_verdict(latencies: Sequence[float], slo_s: float, failed: int, timed_out: int) -> tuple[bool | None, str]:
    """Whether a finished load point met a p99 SLO, and the note that says how it was decided.

    Met: at least :data:`MIN_P99_REQUESTS` completed, p99 at most the SLO, nothing failed or timed out. Missed:
    a request failed or timed out, the p99 is over, or, below that count, more requests are over the SLO than
    chance allows a server that meets it. Otherwise ``None``: too few requests to judge.
    """
    n = len(latencies)
    if failed or timed_out:
        return False, f"missed: {failed} failed and {timed_out} timed out (an SLO holds for every request)"
    if n >= MIN_P99_REQUESTS:
        p99 = percentile(latencies, 99)
        return p99 <= slo_s, f"p99 {p99:.4g} s from {n} requests {'within' if p99 <= slo_s else 'over'} {slo_s:g} s"
    over = sum(v > slo_s for v in latencies)
    chance = binomial_tail(n, over, SLO_SHARE)
    if over and chance < MISS_EVIDENCE:
        return False, (
            f"missed: {over} of {n} requests over {slo_s:g} s; a server meeting the SLO shows that with chance "
            f"{chance:.2g}"
        )
    return None, (
        f"not judged: {n} completed requests ({over} over {slo_s:g} s); a p99 needs at least {MIN_P99_REQUESTS}"
    )


def capacity_per_s(calls: Sequence[tuple[int, float]], max_batch: int) -> float | None:
    """The server's measured capacity (requests/s) from ``(batch, service seconds)`` of the requests it served:
    ``max_batch`` over the mean service time at the largest batch seen. With max batch 1 that is exactly one
    worker's capacity; with batching it is an upper bound (a fuller batch takes no less time), so capping at it
    never cuts a rate the server could hold. ``None`` without server-side timing (an endpoint that sends none).
    The first request served (a cold server's, slower) counts only while it is the only one; the measure follows
    the last :data:`CAPACITY_CALLS` requests, as the machine speeds up or slows down.
    """
    calls = list(calls[1:] if len(calls) > 1 else calls)[-CAPACITY_CALLS:]
    if not calls:
        return None
    largest = max(batch for batch, _ in calls)
    times = [s for batch, s in calls if batch == largest]
    mean_s = math.fsum(times) / len(times)
    return max_batch / mean_s if mean_s > 0 else None


def arrival_rate(sends: Sequence[float]) -> float | None:
    """The rate a point's requests were actually sent at: gaps between the first and the last send."""
    if len(sends) < 2 or max(sends) <= min(sends):
        return None
    return (len(sends) - 1) / (max(sends) - min(sends))


def rate_note(
    *,
    offered: float | None,
    achieved: float,
    arrivals: str,
    sends: Sequence[float],
    window: tuple[float, float],
    sent: int,
    completed: int,
    max_requests: int,
    capacity: float | None,
) -> str | None:
    """Why an open-loop point achieved a rate other than the one offered (``None`` within 10%, or closed loop).

    The achieved rate is completed requests over the window from the first send to the last reply, so a few
    requests' arrivals (a short sample of a Poisson process), their count (n requests, n - 1 gaps), the time after
    the last send, requests that did not complete, a point cut short by ``duration_s`` and a server slower than
    the offered rate each move it.
    """
    if offered is None or offered <= 0 or abs(achieved - offered) <= RATE_NOTE_SHARE * offered:
        return None
    start, end = window
    parts: list[str] = []
    actual = arrival_rate(sends)
    if actual is not None and abs(actual - offered) > RATE_NOTE_SHARE * offered:
        part = f"the {len(sends)} {arrivals} arrivals came at {actual:.3g} req/s"
        if arrivals == "poisson":
            part += f" (a short sample of the mean: ±{100 / math.sqrt(len(sends) - 1):.0f}% is usual)"
        parts.append(part)
    if len(sends) >= 2 and len(sends) / (len(sends) - 1) > 1 + RATE_NOTE_SHARE / 2:
        parts.append(
            f"{len(sends)} sends make {len(sends) - 1} gaps, so {len(sends)} completions over their window read "
            f"{len(sends) / (len(sends) - 1):.2f}x the rate"
        )
    if sends and end - max(sends) > RATE_NOTE_SHARE * (end - start):
        parts.append(f"the window holds {end - max(sends):.3g} s after the last send, until the last reply")
    if completed < sent:
        parts.append(f"{sent - completed} of {sent} requests did not complete")
    if sent < max_requests and actual is not None:
        parts.append(f"duration_s let {sent} of max_requests {max_requests} be sent")
    if capacity is not None and achieved < offered and offered >= 0.8 * capacity:
        parts.append(f"the server's measured capacity is {capacity:.3g} req/s, so requests queued")
    if not parts:
        parts.append(f"{completed} requests over a {end - start:.3g} s window")
    return f"achieved {achieved:.3g} req/s, offered {offered:.3g}: " + "; ".join(parts)


__all__ = [
    "MISS_EVIDENCE",
    "SLO_SHARE",
    "arrival_rate",
    "binomial_tail",
    "capacity_per_s",
    "rate_note",
    "slo_verdict",
]

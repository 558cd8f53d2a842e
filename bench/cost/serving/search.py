"""Searches over the simulator: the latency-vs-load curve, the max rate at a p99 SLO, replicas for a rate.

The max rate at an SLO is found by bisection over the offered rate between 0 and the saturation rate (every
replica busy with full batches): above saturation the queue grows without bound, so no rate past it is ever
called sustainable, however short the simulated run. Common random numbers (one arrival pattern scaled by the
rate) keep p99 monotone in the rate, so bisection is sound. Bounded: at most :data:`MAX_BISECTIONS` steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.cost.serving.service import ServiceTimes
from bench.cost.serving.simulate import LoadPoint, QueueConfig, simulate

MAX_BISECTIONS = 40
REL_TOL = 0.005  # stop when the bracket is within 0.5% of the rate
MAX_REPLICAS = 4096
CURVE_FRACTIONS = (0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 0.95, 0.98)  # of saturation, for a latency curve


@dataclass(frozen=True)
class SloResult:
    """The max offered rate whose simulated p99 meets the SLO, the point there, or why none does."""

    slo_p99_s: float
    max_rate_per_s: float | None
    point: LoadPoint | None
    saturation_per_s: float
    reason: str | None = None  # why no rate meets the SLO


def saturation_per_s(service: ServiceTimes, config: QueueConfig) -> float:
    """Requests per second at which the replicas are always busy with the most productive batch allowed."""
    return service.capacity_per_s(config.replicas, config.max_batch)


def curve(service: ServiceTimes, config: QueueConfig, rates: Sequence[float] | None = None) -> list[LoadPoint]:
    """Simulated load points at ``rates`` (default: fractions of saturation from light load to near it)."""
    top = saturation_per_s(service, config)
    return [simulate(service, config, r) for r in (rates or [f * top for f in CURVE_FRACTIONS])]


def max_rate_at_slo(service: ServiceTimes, config: QueueConfig, slo_p99_s: float) -> SloResult:
    """Bisect the offered rate for the highest one whose simulated p99 latency is at most ``slo_p99_s``."""
    if not (slo_p99_s > 0 and math.isfinite(slo_p99_s)):
        raise ValueError(f"slo_p99_s must be a positive number, got {slo_p99_s}")
    top = saturation_per_s(service, config)
    alone = service.light_load_s() + config.overhead_s
    if alone > slo_p99_s:
        return SloResult(
            slo_p99_s,
            None,
            None,
            top,
            f"one request alone takes {alone:.3g} s at p99 (batch 1, no queue), over the {slo_p99_s:g} s SLO",
        )
    at_top = simulate(service, config, top)
    if at_top.p99_s <= slo_p99_s:
        return SloResult(slo_p99_s, top, at_top, top)
    lo, hi = 0.0, top
    best: LoadPoint | None = None
    for _ in range(MAX_BISECTIONS):
        if hi - lo <= REL_TOL * hi:
            break
        mid = 0.5 * (lo + hi)
        point = simulate(service, config, mid)
        if point.p99_s <= slo_p99_s:
            lo, best = mid, point
        else:
            hi = mid
    if best is None:  # the SLO holds alone but not at the lightest load bisection tried
        rate = lo if lo > 0 else hi * REL_TOL
        best = simulate(service, config, rate)
        if best.p99_s > slo_p99_s:
            return SloResult(slo_p99_s, None, None, top, f"p99 is over {slo_p99_s:g} s even at {rate:.3g} req/s")
        lo = rate
    return SloResult(slo_p99_s, lo, best, top)


def replicas_for_rate(
    service: ServiceTimes, config: QueueConfig, slo_p99_s: float, rate_per_s: float, max_replicas: int = MAX_REPLICAS
) -> tuple[int | None, LoadPoint | None]:
    """The fewest replicas (sharing one queue) whose simulated p99 at ``rate_per_s`` meets the SLO.

    Returns ``(None, None)`` when one request alone misses the SLO or more than ``max_replicas`` would be needed.
    p99 falls as replicas are added, so the search doubles the count until the SLO holds, then bisects.
    """
    if service.light_load_s() + config.overhead_s > slo_p99_s:
        return None, None
    single = service.capacity_per_s(1, config.max_batch)
    lo = max(1, math.ceil(rate_per_s / single * (1 - 1e-9)))  # fewer cannot even keep up
    if lo > max_replicas:
        return None, None

    def meets(c: int) -> LoadPoint | None:
        point = simulate(service, replace(config, replicas=c), rate_per_s)
        return point if point.p99_s <= slo_p99_s else None

    hi = lo
    found = meets(hi)
    while found is None:
        if hi >= max_replicas:
            return None, None
        lo, hi = hi + 1, min(max_replicas, hi * 2)
        found = meets(hi)
    while lo < hi:  # invariant: hi meets the SLO (found is its point); lo - 1 does not
        mid = (lo + hi) // 2
        point = meets(mid)
        if point is not None:
            hi, found = mid, point
        else:
            lo = mid + 1
    return hi, found


__all__ = [
    "CURVE_FRACTIONS",
    "MAX_BISECTIONS",
    "MAX_REPLICAS",
    "SloResult",
    "curve",
    "max_rate_at_slo",
    "replicas_for_rate",
    "saturation_per_s",
]

"""Searches over the serving queue: the latency-vs-load curve, the max rate at a p99 SLO, replicas for a rate.

**Exact** where the queue has a closed form (:func:`~.estimate.exact_method`: one replica, no batching, M/D/1,
M/M/1 or D/D/1): the max rate is the root of the exact p99 (:mod:`.exact`), so the p99 at the reported rate is
the SLO to within 1e-9, with no sampling error.

**Simulated** elsewhere. The max rate is found by bisection over the offered rate below the saturation rate
(every replica busy with full batches; no rate at or above it is sustainable when arrivals or calls are
random, however short a run). Common random numbers (one seeded arrival pattern per seed, scaled by the rate)
keep the pooled p99 monotone in the rate, so bisection is sound. It runs in two passes: a cheap one (few
requests) to find the neighbourhood, then, with runs long enough that the p99's 95% interval is within the
precision target there (:func:`~.estimate.simulated`), a bracket around it is checked and narrowed to
:data:`REL_TOL`. The reported rate is the lower end of that bracket: its simulated p99 meets the SLO. The
p99's sampling interval becomes the rate's by the delta method, through the local elasticity
``d ln p99 / d ln rate`` measured between the bracket's checked lower end and the rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bench.cost.serving import exact
from bench.cost.serving.estimate import (
    Precision,
    deterministic,
    exact_method,
    exact_point,
    load_point,
    replicated,
    simulated,
)
from bench.cost.serving.point import LoadPoint, Method
from bench.cost.serving.service import ServiceTimes
from bench.cost.serving.simulate import QueueConfig

MAX_BISECTIONS = 40
REL_TOL = 0.005  # simulated: stop when the bracket is within 0.5% of the rate
COARSE_REL_TOL = 0.04  # the first, cheap pass
CLOSE = 0.01  # the second pass stops once the lower end's p99 is this close below the SLO (within its noise)
BRACKET = 0.08  # the second pass checks the bracket rate x (1 - BRACKET) .. x (1 + BRACKET)
MAX_REPLICAS = 4096
CURVE_FRACTIONS = (0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 0.95, 0.98)  # of saturation, for a latency curve


@dataclass(frozen=True)
class SloResult:
    """The max offered rate whose p99 meets the SLO, the point there, or why none does.

    ``rate_sampling`` is the max rate's 95% interval from the simulated p99's sampling error (None: exact, or
    a deterministic run); ``point.basis`` says how the p99 there was computed.
    """

    slo_p99_s: float
    max_rate_per_s: float | None
    point: LoadPoint | None
    saturation_per_s: float
    reason: str | None = None  # why no rate meets the SLO
    rate_sampling: tuple[float, float] | None = None


def saturation_per_s(service: ServiceTimes, config: QueueConfig) -> float:
    """Requests per second at which the replicas are always busy with the most productive batch allowed."""
    return service.capacity_per_s(config.replicas, config.max_batch)


def curve(
    service: ServiceTimes,
    config: QueueConfig,
    rates: Sequence[float] | None = None,
    precision: Precision | None = None,
) -> list[LoadPoint]:
    """Load points at ``rates`` (default: fractions of saturation from light load to near it), exact or simulated."""
    top = saturation_per_s(service, config)
    return [load_point(service, config, r, precision) for r in (rates or [f * top for f in CURVE_FRACTIONS])]


def max_rate_at_slo(
    service: ServiceTimes, config: QueueConfig, slo_p99_s: float, precision: Precision | None = None
) -> SloResult:
    """The highest offered rate whose p99 latency is at most ``slo_p99_s``: exact, or simulated (module docstring)."""
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
    method = exact_method(service, config)
    if method is not None:
        return _exact_max_rate(service, config, slo_p99_s, method, top)
    return _simulated_max_rate(service, config, slo_p99_s, top, precision or Precision())


def _exact_max_rate(service: ServiceTimes, config: QueueConfig, slo: float, method: Method, top: float) -> SloResult:
    d, extra = service.seconds(1), config.overhead_s
    if method == "D/D/1":
        rate: float | None = top  # nobody waits up to saturation, and one call alone meets the SLO
    elif method == "M/M/1":
        rate = exact.mm1_max_rate(slo, 0.99, d, extra)
    else:
        rate = exact.md1_max_rate(slo, 0.99, d, extra)
    if rate is None:
        return SloResult(slo, None, None, top, f"p99 is over {slo:g} s at every rate")
    point = exact_point(service, config, rate, method)
    for _ in range(8):  # the root is found to 1e-10; step down past rounding so the p99 there is within the SLO
        if point.p99_s <= slo:
            break
        rate *= 1 - 1e-9
        point = exact_point(service, config, rate, method)
    return SloResult(slo, rate, point, top)


Evaluate = Callable[[float], LoadPoint]


def _simulated_max_rate(
    service: ServiceTimes, config: QueueConfig, slo: float, top: float, precision: Precision
) -> SloResult:
    if deterministic(service, config):
        at_top = simulated(service, config, top, precision)
        if at_top.p99_s <= slo:
            return SloResult(slo, top, at_top, top)
    start = precision.start_requests
    seen: dict[float, LoadPoint] = {}
    lo, hi, best = _bisect(_evaluator(service, config, start, precision, seen), 0.0, top, slo, COARSE_REL_TOL)
    if best is None:
        rate = top * REL_TOL
        best = replicated(service, config, rate, start, precision)
        if best.p99_s > slo:
            return SloResult(slo, None, None, top, f"p99 is over {slo:g} s even at {rate:.3g} req/s")
        lo, hi = rate, min(top, 2 * rate)
    precise = simulated(service, config, lo, precision)  # how long the runs must be for the target near here
    seen = {lo: precise}
    ev = _evaluator(service, config, precise.basis.requests, precision, seen)
    low, high = lo * (1 - BRACKET), min(top, hi * (1 + BRACKET))
    while low > 0 and ev(low).p99_s > slo:
        low = low * (1 - 2 * BRACKET) if low > top * REL_TOL else 0.0
    while high < top and ev(high).p99_s <= slo:
        low, high = high, min(top, high * (1 + 2 * BRACKET))
    lo, hi, best = _refine(ev, low, high, slo, top)
    if best is None:
        return SloResult(slo, None, None, top, f"p99 is over {slo:g} s even at {high:.3g} req/s")
    return SloResult(slo, lo, best, top, rate_sampling=_rate_interval(lo, best, ev, seen, top))


def _evaluator(
    service: ServiceTimes, config: QueueConfig, requests: int, precision: Precision, seen: dict[float, LoadPoint]
) -> Evaluate:
    def evaluate(rate: float) -> LoadPoint:
        if rate not in seen:
            seen[rate] = replicated(service, config, rate, requests, precision)
        return seen[rate]

    return evaluate


def _bisect(
    ev: Evaluate, lo: float, hi: float, slo: float, rel_tol: float, known: dict[float, LoadPoint] | None = None
) -> tuple[float, float, LoadPoint | None]:
    """Narrow ``[lo, hi]`` (``lo`` meets the SLO or is 0, ``hi`` misses it or is saturation) to ``rel_tol``."""
    best = known.get(lo) if known and lo > 0 else None
    if best is not None and best.p99_s > slo:
        best = None
    for _ in range(MAX_BISECTIONS):
        if hi - lo <= rel_tol * hi:
            break
        mid = 0.5 * (lo + hi)
        point = ev(mid)
        if point.p99_s <= slo:
            lo, best = mid, point
        else:
            hi = mid
    return lo, hi, best


def _refine(ev: Evaluate, lo: float, hi: float, slo: float, top: float) -> tuple[float, float, LoadPoint | None]:
    """Narrow a checked bracket by false position on ``ln p99`` against ``ln rate`` (safeguarded bisection).

    The curve is smooth and monotone under common random numbers, so an interpolated rate lands near the root
    in two or three runs where bisection to 0.5% takes five or six; each step is kept inside the middle 80% of
    the bracket so it always shrinks. Stops when the bracket is within :data:`REL_TOL` or the lower end's p99
    is within :data:`CLOSE` of the SLO.
    """
    if lo <= 0:
        return _bisect(ev, lo, hi, slo, REL_TOL)
    best = ev(lo)
    for _ in range(MAX_BISECTIONS):
        if hi - lo <= REL_TOL * hi or best.p99_s >= slo * (1 - CLOSE):
            break
        upper = ev(hi).p99_s if hi < top else math.inf
        mid = 0.5 * (lo + hi)
        if math.isfinite(upper) and upper > best.p99_s > 0:
            x0, x1 = math.log(lo), math.log(hi)
            y0, y1 = math.log(best.p99_s), math.log(upper)
            guess = math.exp(x0 + (math.log(slo) - y0) * (x1 - x0) / (y1 - y0))
            mid = min(max(guess, lo + 0.1 * (hi - lo)), hi - 0.1 * (hi - lo))
        point = ev(mid)
        if point.p99_s <= slo:
            lo, best = mid, point
        else:
            hi = mid
    return lo, hi, best


def _rate_interval(
    rate: float, point: LoadPoint, ev: Evaluate, seen: dict[float, LoadPoint], top: float
) -> tuple[float, float] | None:
    """The max rate's 95% interval from its p99's: ``ln rate +- (ln p99 interval) / elasticity`` (delta method).

    The elasticity is the chord from a checked point 2-24% below the rate (one is simulated if none was): on
    the convex p99 curve a chord from below errs small, so the interval errs wide. A p99 flat in the rate
    leaves the rate unbounded within ``[0, saturation]``.
    """
    if point.p99_interval is None or not point.basis.p99_rel_halfwidth:
        return None
    near = [r for r in seen if rate * (1 - 3 * BRACKET) <= r <= rate * 0.98]
    below = max(near) if near else rate * (1 - BRACKET)
    lower = ev(below)
    p99_lo, p99_hi = point.p99_interval
    elasticity = math.log(point.p99_s / lower.p99_s) / math.log(rate / below) if lower.p99_s > 0 else 0.0
    if not elasticity > 1e-6 or p99_lo <= 0:
        return (0.0, top)
    down = math.log(p99_hi / point.p99_s) / elasticity
    up = math.log(point.p99_s / p99_lo) / elasticity
    return (rate * math.exp(-down), min(top, rate * math.exp(up)))


def replicas_for_rate(
    service: ServiceTimes,
    config: QueueConfig,
    slo_p99_s: float,
    rate_per_s: float,
    max_replicas: int = MAX_REPLICAS,
    precision: Precision | None = None,
) -> tuple[int | None, LoadPoint | None]:
    """The fewest replicas (sharing one queue) whose p99 at ``rate_per_s`` meets the SLO.

    Returns ``(None, None)`` when one request alone misses the SLO or more than ``max_replicas`` would be needed.
    p99 falls as replicas are added, so the search doubles the count until the SLO holds, then bisects, on
    short runs; the count it finds, and the one below, are then judged at full precision.
    """
    if service.light_load_s() + config.overhead_s > slo_p99_s:
        return None, None
    precision = precision or Precision()
    single = service.capacity_per_s(1, config.max_batch)
    lo = max(1, math.ceil(rate_per_s / single * (1 - 1e-9)))  # fewer cannot even keep up
    if lo > max_replicas:
        return None, None

    def quick(c: int) -> bool:
        cfg = replace(config, replicas=c)
        if exact_method(service, cfg) is not None:
            return load_point(service, cfg, rate_per_s).p99_s <= slo_p99_s
        return replicated(service, cfg, rate_per_s, precision.start_requests, precision).p99_s <= slo_p99_s

    def meets(c: int) -> LoadPoint | None:
        point = load_point(service, replace(config, replicas=c), rate_per_s, precision)
        return point if point.p99_s <= slo_p99_s else None

    hi = lo
    while not quick(hi):
        if hi >= max_replicas:
            return None, None
        lo, hi = hi + 1, min(max_replicas, hi * 2)
    while lo < hi:  # invariant: hi meets the SLO on short runs; lo - 1 does not
        mid = (lo + hi) // 2
        if quick(mid):
            hi = mid
        else:
            lo = mid + 1
    found = meets(hi)
    while found is None and hi < max_replicas:  # the short runs were optimistic
        hi += 1
        found = meets(hi)
    while found is not None and hi > 1:  # or pessimistic
        fewer = meets(hi - 1)
        if fewer is None:
            break
        hi, found = hi - 1, fewer
    return (hi, found) if found is not None else (None, None)


__all__ = [
    "BRACKET",
    "CURVE_FRACTIONS",
    "MAX_BISECTIONS",
    "MAX_REPLICAS",
    "SloResult",
    "curve",
    "max_rate_at_slo",
    "replicas_for_rate",
    "saturation_per_s",
]

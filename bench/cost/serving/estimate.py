"""A load point as precise as the question needs: exact where the queue has a closed form, else simulated enough.

* **Exact**: one replica, no batching, no idle-start penalty, and open-loop arrivals that make a queue with a
  known waiting-time distribution (:mod:`.exact`): Poisson arrivals with fixed calls (M/D/1) or exponential
  calls (M/M/1), evenly spaced arrivals with fixed calls (D/D/1). No sampling error and no start-up transient.
* **Simulated**, everywhere else: :data:`SEEDS` independent seeded runs, each leaving out its first
  :data:`WARMUP_FRACTION` of requests (the empty-queue start, which biases the tail low). Their requests are
  pooled for the percentiles, and the spread of the seeds' own p99s gives the pooled p99's 95% interval
  (sectioning: S. Asmussen and P. W. Glynn, *Stochastic Simulation*, Springer 2007, ch. III.5). Runs are made
  longer until that interval is within :data:`TARGET_REL_HALFWIDTH` of the p99, or the budget of simulated
  requests per load point is spent; a point that stops short says so in its basis, as does one whose arrivals a
  simulated-time horizon cut. Deterministic queues (evenly spaced arrivals, fixed calls) need one run.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np

from bench.cost.serving import exact
from bench.cost.serving.point import Basis, LoadPoint, Method
from bench.cost.serving.service import ServiceTimes
from bench.cost.serving.simulate import QueueConfig, pool, trace

SEEDS = 10
TARGET_REL_HALFWIDTH = 0.02
WARMUP_FRACTION = 0.1
START_REQUESTS = 2_000  # per seed, the first try
FAST_BUDGET = 4_000_000  # simulated requests per load point, all seeds, where no batching makes it vectorised
LOOP_BUDGET = 400_000  # the same where the queue runs a loop per batch or event (batching, random calls on c)


@dataclass(frozen=True)
class Precision:
    """How precise a simulated p99 must be, and how much simulation may be spent on it per load point."""

    target: float = TARGET_REL_HALFWIDTH
    seeds: int = SEEDS
    start_requests: int = START_REQUESTS
    budget: int | None = None  # None: FAST_BUDGET or LOOP_BUDGET, by the path the queue takes

    def __post_init__(self) -> None:
        if not (0 < self.target < 1 and self.seeds >= 2 and self.start_requests >= 10):
            raise ValueError(f"a precision needs 0 < target < 1, seeds >= 2, start_requests >= 10: {self}")


@functools.cache
def t_975(dof: int) -> float:
    """Student's t 97.5% quantile (a 95% two-sided interval from ``dof + 1`` seeds; 2.262 for 10)."""
    from scipy.stats import t  # imported only when a queue is simulated: the exact paths never need it

    return float(t.ppf(0.975, dof))


def exact_method(service: ServiceTimes, config: QueueConfig) -> Method | None:
    """The queue's closed form, where it has one (module docstring); None: it must be simulated."""
    one = config.replicas == 1 and min(config.max_batch, service.max_batch) == 1 and config.idle_start_s == 0
    if not one or config.arrivals == "closed" or service.has_samples(1):
        return None
    if config.arrivals == "poisson":
        return "M/M/1" if service.shape == "exponential" else "M/D/1"
    return "D/D/1" if service.shape == "fixed" else None


def exact_point(service: ServiceTimes, config: QueueConfig, rate_per_s: float, method: Method) -> LoadPoint:
    """The stationary load point of an exactly solvable queue (``inf`` latencies at or above saturation)."""
    d, extra = service.seconds(1), config.overhead_s
    rho = rate_per_s * d
    if method == "D/D/1":
        fixed = d + extra if rho <= 1 else math.inf
        waits = (0.0, 0.0) if rho <= 1 else (math.inf, math.inf)
        return _exact(rate_per_s, rho, method, (fixed, fixed, fixed, fixed, fixed), waits)
    if method == "M/M/1":
        qs = tuple(exact.mm1_latency_quantile(q, rate_per_s, d, extra) for q in (0.5, 0.9, 0.99))
        mean_wait = exact.mm1_mean_wait_s(rate_per_s, d)
        p99_wait = exact.wait_quantile(lambda t: exact.mm1_wait_cdf(t, rate_per_s, d), 0.99, rho, d)
    else:
        qs = tuple(exact.md1_latency_quantile(q, rate_per_s, d, extra) for q in (0.5, 0.9, 0.99))
        mean_wait = exact.md1_mean_wait_s(rate_per_s, d)
        p99_wait = qs[2] - d - extra
    return _exact(rate_per_s, rho, method, (*qs, math.inf, mean_wait + d + extra), (mean_wait, p99_wait))


def _exact(rate: float, rho: float, method: Method, lat: tuple[float, ...], waits: tuple[float, float]) -> LoadPoint:
    return LoadPoint(
        offered_rate_per_s=rate, concurrency=None, replicas=1, completed=0, throughput_per_s=rate * min(1.0, 1 / rho),
        p50_s=lat[0], p90_s=lat[1], p99_s=lat[2], max_s=lat[3], mean_s=lat[4], mean_wait_s=waits[0],
        p99_wait_s=waits[1], mean_batch=1.0, utilisation=min(1.0, rho), basis=Basis(method),
    )  # fmt: skip


def deterministic(service: ServiceTimes, config: QueueConfig) -> bool:
    """Whether every seed gives the same run: evenly spaced arrivals (or a closed loop) and fixed calls."""
    return config.arrivals != "poisson" and not service.random


def budget_for(service: ServiceTimes, config: QueueConfig, precision: Precision) -> int:
    """Simulated requests a load point may take, all seeds together (vectorised queues run ten times more)."""
    if precision.budget is not None:
        return precision.budget
    batch, one = min(config.max_batch, service.max_batch), config.replicas == 1
    fast = batch == 1 and config.idle_start_s == 0 and (one or not service.random)
    return FAST_BUDGET if fast and config.arrivals != "closed" else LOOP_BUDGET


def replicated(
    service: ServiceTimes, config: QueueConfig, rate_per_s: float | None, requests: int, precision: Precision
) -> LoadPoint:
    """``precision.seeds`` runs of ``requests`` each (one run if deterministic), pooled, with the p99 interval."""
    seeds = 1 if deterministic(service, config) else precision.seeds
    warmup = int(WARMUP_FRACTION * requests)
    cfg = replace(config, max_requests=requests)
    runs = [trace(service, replace(cfg, seed=config.seed + k), rate_per_s) for k in range(seeds)]
    basis = Basis(
        "simulated", requests=requests, seeds=seeds, warmup=warmup, target=precision.target,
        budget=budget_for(service, config, precision),
    )  # fmt: skip
    point = pool(runs, cfg, rate_per_s, warmup, basis)
    if seeds == 1:
        return replace(point, basis=replace(point.basis, p99_rel_halfwidth=0.0), p99_interval=(point.p99_s,) * 2)
    own = [float(np.percentile(r.done[warmup:] - r.arrival[warmup:], 99)) + config.overhead_s for r in runs]
    half = t_975(seeds - 1) * float(np.std(own, ddof=1)) / math.sqrt(seeds)
    rel = half / point.p99_s if point.p99_s > 0 else math.inf
    return replace(
        point, basis=replace(point.basis, p99_rel_halfwidth=rel), p99_interval=(point.p99_s - half, point.p99_s + half)
    )


def load_point(
    service: ServiceTimes, config: QueueConfig, rate_per_s: float | None, precision: Precision | None = None
) -> LoadPoint:
    """The load point at ``rate_per_s``: exact where the queue has a closed form, else simulated to ``precision``."""
    method = exact_method(service, config)
    if method is not None and rate_per_s is not None:
        return exact_point(service, config, rate_per_s, method)
    return simulated(service, config, rate_per_s, precision or Precision())


def simulated(service: ServiceTimes, config: QueueConfig, rate_per_s: float | None, precision: Precision) -> LoadPoint:
    """Simulated with runs made longer until the p99 interval meets the target or the budget is spent."""
    budget = budget_for(service, config, precision)
    requests = max(1, min(precision.start_requests, budget // precision.seeds))
    while True:
        point = replicated(service, config, rate_per_s, requests, precision)
        longest = budget // point.basis.seeds
        if not point.basis.short_of_target or requests >= longest or point.basis.arrived is not None:
            return point
        requests = next_requests(requests, point.basis.p99_rel_halfwidth, precision.target, longest)


def next_requests(requests: int, rel: float | None, target: float, longest: int) -> int:
    """Requests per seed likely to bring the interval within ``target`` (it narrows as one over the root)."""
    if rel is None or not math.isfinite(rel):
        return min(longest, 4 * requests)
    grow = min(16.0, max(1.5, 1.3 * (rel / target) ** 2))
    return min(longest, math.ceil(requests * grow))


__all__ = [
    "FAST_BUDGET",
    "LOOP_BUDGET",
    "SEEDS",
    "TARGET_REL_HALFWIDTH",
    "WARMUP_FRACTION",
    "Precision",
    "budget_for",
    "deterministic",
    "exact_method",
    "exact_point",
    "load_point",
    "next_requests",
    "replicated",
    "simulated",
    "t_975",
]

"""Exact latency distributions of the queues that have one: M/D/1, M/M/1 and D/D/1 (one replica, no batching).

Where the serving queue is one of these, a simulation only adds sampling error and a start-up transient to an
answer that is known in closed form, so the searches use these instead (:mod:`.estimate` decides which applies).
Latency is the request's wait in the queue, plus its service time, plus ``overhead_s`` (time outside the call
that holds no replica), so every quantile here is of the stationary FIFO waiting time ``W`` shifted.

* **M/D/1** (Poisson arrivals at rate ``lam``, every call ``d`` seconds, ``rho = lam d < 1``): Erlang's
  waiting-time distribution (A. K. Erlang, 1909), in the form of G. J. Franx, "A simple solution for the M/D/c
  waiting time distribution", *Operations Research Letters* 29 (2001). In units of ``d``, with ``t = m + y``
  (``m`` whole, ``0 <= y < 1``)::

      P(W <= t) = sum_{i=0}^{m} Poisson(i; rho (1 - y)) * h(m - i),     h(z) = P(L <= z + 1)

  where ``L`` is the stationary number in the system, so ``h`` is the embedded chain's distribution shifted by
  one: ``h(0) = (1 - rho) e^rho`` and ``h(z) = sum_{k=0}^{z+1} a_k h(z + 1 - k)`` (``h`` of a negative number is
  0; ``a_k`` the Poisson(rho) probabilities of ``k`` arrivals during one call). Every term is positive, so it
  holds its precision at any load, unlike Erlang's original alternating sum
  ``(1 - rho) sum_k [lam (k d - t)]^k / k! e^{-lam (k d - t)}``, whose terms grow like ``e^{2 lam t}`` while
  the sum stays below 1 (it cancels away every digit of a double once ``lam t`` is a few tens). The tests
  check one against the other in high-precision decimal arithmetic.
* **M/M/1** (exponential calls of mean ``1 / mu``): the FIFO response time is exponential with rate ``mu - lam``
  (L. Kleinrock, *Queueing Systems*, vol. 1, 1975, M/M/1), so ``P(W <= t) = 1 - rho exp(-(mu - lam) t)`` and
  the ``q`` quantile of latency is ``-ln(1 - q) / (mu - lam)``.
* **D/D/1** (evenly spaced arrivals, fixed calls): below saturation (``lam * d <= 1``) nobody waits.

Quantiles of ``W`` are found by bisection on its distribution function, which is continuous above its atom at
0 (mass ``1 - rho``), so the ``q`` quantile is the ``t`` with ``P(W <= t) = q`` exactly (to ``REL_TOL``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

REL_TOL = 1e-10  # bisection stops when the bracket is this close (relative)


def md1_wait_cdf(t: float, rate_per_s: float, service_s: float) -> float:
    """``P(W <= t)`` for the M/D/1 FIFO queue (Franx's form of Erlang's formula, module docstring)."""
    _check(rate_per_s, service_s)
    rho = rate_per_s * service_s
    if rho >= 1 or t < 0:
        return 0.0  # rho >= 1: unstable, the wait grows without bound
    x = t / service_s
    return _md1_cdf(_queue_cdf(rho, math.floor(x)), rho, x)


def md1_wait_cdfs(ts: np.ndarray, rate_per_s: float, service_s: float) -> np.ndarray:
    """:func:`md1_wait_cdf` at many points, sharing one queue-length table (for curves and integrals)."""
    _check(rate_per_s, service_s)
    rho = rate_per_s * service_s
    xs = np.asarray(ts, dtype=float) / service_s
    if rho >= 1 or not len(xs):
        return np.zeros(len(xs))
    h = _queue_cdf(rho, max(0, math.floor(float(xs.max()))))
    return np.array([_md1_cdf(h, rho, float(x)) if x >= 0 else 0.0 for x in xs])


def _queue_cdf(rho: float, m: int) -> np.ndarray:
    """``h[z] = Q(z + 1) = P(L <= z + 1)`` for ``z = 0..m``: the embedded chain's recursion, forward.

    The recursion's other solutions decay (their roots have modulus ``rho / |rho + 2 pi i n|`` < 1), so
    rounding errors die out instead of growing: checked at rho = 0.999 over 5000 steps.
    """
    k = np.arange(m + 2)
    a = np.exp(-rho + k * math.log(rho) - np.array([math.lgamma(j + 1.0) for j in k]))
    h = np.empty(m + 1)
    h[0] = (1.0 - rho) * math.exp(rho)
    for z in range(m):
        h[z + 1] = (h[z] - float(np.dot(a[1 : z + 2], h[z::-1]))) / a[0]
    return np.minimum(h, 1.0)


def _md1_cdf(h: np.ndarray, rho: float, x: float) -> float:
    """``P(W <= x)`` (``x`` in calls) from ``h`` (at least ``floor(x) + 1`` entries)."""
    m = math.floor(x)
    mean = rho * (1.0 - (x - m))
    i = np.arange(m + 1)
    if mean > 0:
        arrivals = np.exp(-mean + i * math.log(mean) - np.array([math.lgamma(j + 1.0) for j in i]))
    else:
        arrivals = (i == 0).astype(float)
    return min(1.0, float(np.dot(arrivals, h[m::-1])))


def mm1_wait_cdf(t: float, rate_per_s: float, mean_service_s: float) -> float:
    """``P(W <= t) = 1 - rho exp(-(mu - lam) t)`` for the M/M/1 FIFO queue (Kleinrock, vol. 1)."""
    _check(rate_per_s, mean_service_s)
    rho = rate_per_s * mean_service_s
    if rho >= 1 or t < 0:
        return 0.0
    return 1.0 - rho * math.exp(-(1.0 / mean_service_s - rate_per_s) * t)


def wait_quantile(cdf: Callable[[float], float], q: float, rho: float, scale_s: float) -> float:
    """The ``q`` quantile of a waiting time with distribution ``cdf`` (atom ``1 - rho`` at 0; ``inf`` if rho >= 1)."""
    if not 0 < q < 1:
        raise ValueError(f"a quantile needs 0 < q < 1, got {q}")
    if rho >= 1:
        return math.inf
    if 1.0 - rho >= q:
        return 0.0
    hi = scale_s
    while cdf(hi) < q:
        hi *= 2
    return _bisect(lambda t: cdf(t) >= q, 0.0, hi)[1]  # the upper side: P(W <= t) >= q there


def md1_latency_quantile(q: float, rate_per_s: float, service_s: float, overhead_s: float = 0.0) -> float:
    """The ``q`` quantile of M/D/1 latency: exact wait quantile + the call + ``overhead_s``."""
    _check(rate_per_s, service_s)
    rho = rate_per_s * service_s
    table = {"h": _queue_cdf(rho, 1)} if rho < 1 else {}

    def cdf(t: float) -> float:  # the queue-length table grows as the search reaches longer waits
        x = t / service_s
        if len(table["h"]) <= math.floor(x):
            table["h"] = _queue_cdf(rho, 2 * math.floor(x) + 1)
        return _md1_cdf(table["h"], rho, x)

    return wait_quantile(cdf, q, rho, service_s) + service_s + overhead_s


def mm1_latency_quantile(q: float, rate_per_s: float, mean_service_s: float, overhead_s: float = 0.0) -> float:
    """The ``q`` quantile of M/M/1 latency: the response time is exponential with rate ``mu - lam``."""
    _check(rate_per_s, mean_service_s)
    if not 0 < q < 1:
        raise ValueError(f"a quantile needs 0 < q < 1, got {q}")
    gap = 1.0 / mean_service_s - rate_per_s
    return -math.log1p(-q) / gap + overhead_s if gap > 0 else math.inf


def md1_mean_wait_s(rate_per_s: float, service_s: float) -> float:
    """Pollaczek-Khinchine with no service variance: ``rho d / (2 (1 - rho))``."""
    rho = rate_per_s * service_s
    return rho * service_s / (2 * (1 - rho)) if rho < 1 else math.inf


def mm1_mean_wait_s(rate_per_s: float, mean_service_s: float) -> float:
    """``rho / (mu - lam)``."""
    rho = rate_per_s * mean_service_s
    return rho * mean_service_s / (1 - rho) if rho < 1 else math.inf


def md1_max_rate(slo_s: float, q: float, service_s: float, overhead_s: float = 0.0) -> float | None:
    """The highest Poisson rate whose exact M/D/1 ``q`` latency quantile is at most ``slo_s`` (None: none is).

    The wait budget is ``t = slo - d - overhead``; ``P(W <= t)`` falls as the rate rises, from 1 at rate 0 to
    0 at saturation, so the rate where it equals ``q`` is found by bisection; the lower end of the final
    bracket is returned, so the quantile there is within the SLO, not just near it.
    """
    budget = slo_s - service_s - overhead_s
    if budget < 0:
        return None
    floor = (1.0 - q) / service_s  # rho = 1 - q: the atom at 0 alone covers q
    return _bisect(lambda lam: md1_wait_cdf(budget, lam, service_s) < q, floor, 1.0 / service_s)[0]


def mm1_max_rate(slo_s: float, q: float, mean_service_s: float, overhead_s: float = 0.0) -> float | None:
    """``mu + ln(1 - q) / (slo - overhead)``: the rate whose M/M/1 latency quantile is the SLO (None: none is)."""
    budget = slo_s - overhead_s
    if budget <= 0:
        return None
    rate = 1.0 / mean_service_s + math.log1p(-q) / budget
    return rate if rate > 0 else None


def _bisect(past: Callable[[float], bool], lo: float, hi: float) -> tuple[float, float]:
    """A bracket ``(lo, hi)`` of the boundary of a monotone predicate, False at ``lo`` and True at ``hi``."""
    while hi - lo > REL_TOL * abs(hi):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if past(mid):
            hi = mid
        else:
            lo = mid
    return lo, hi


def _check(rate_per_s: float, service_s: float) -> None:
    if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
        raise ValueError(f"the arrival rate must be > 0, got {rate_per_s}")
    if not (service_s > 0 and math.isfinite(service_s)):
        raise ValueError(f"the service time must be > 0, got {service_s}")


__all__ = [
    "md1_latency_quantile",
    "md1_max_rate",
    "md1_mean_wait_s",
    "md1_wait_cdf",
    "md1_wait_cdfs",
    "mm1_latency_quantile",
    "mm1_max_rate",
    "mm1_mean_wait_s",
    "mm1_wait_cdf",
    "wait_quantile",
]

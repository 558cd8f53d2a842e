"""Calibration of the time comparison on synthetic samples: false alarms and the smallest detectable slowdown.

These answer "how noisy may the timings be for a given threshold" without a GPU: draw both sides from a known
distribution, compare them with :func:`bench.compare.stats.compare_samples` and count the verdicts. The tables
in ``docs/ci.md`` and ``docs/benchmarks.md`` come from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bench.compare.stats import DEFAULT_SEED, N_RESAMPLES, compare_samples


def lognormal_samples(rng: np.random.Generator, n: int, cv: float, median_s: float = 1.0) -> np.ndarray:
    """``n`` timings with median ``median_s`` and coefficient of variation ``cv`` (lognormal noise)."""
    sigma = math.sqrt(math.log1p(cv * cv))
    return median_s * np.exp(rng.normal(0.0, sigma, size=n))


def detection_rate(
    slowdown: float,
    *,
    n: int = 10,
    cv: float = 0.03,
    threshold: float = 0.05,
    trials: int = 1000,
    seed: int = DEFAULT_SEED,
    n_resamples: int = N_RESAMPLES,
    sampler: Callable[[np.random.Generator, int, float, float], np.ndarray] = lognormal_samples,
) -> float:
    """Fraction of ``trials`` synthetic comparisons flagged as a regression when the truth is ``slowdown``.

    With ``slowdown=0`` this is the false-alarm rate of A/A comparisons.
    """
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        base = sampler(rng, n, cv, 1.0)
        cur = sampler(rng, n, cv, 1.0 + slowdown)
        if compare_samples(base, cur, threshold, n_resamples=n_resamples, rng=rng).verdict == "regression":
            flagged += 1
    return flagged / trials


def false_alarm_rate(
    *, n: int = 10, cv: float = 0.03, threshold: float = 0.05, trials: int = 1000, seed: int = DEFAULT_SEED
) -> float:
    """Fraction of A/A comparisons (same distribution on both sides) wrongly flagged as a regression."""
    return detection_rate(0.0, n=n, cv=cv, threshold=threshold, trials=trials, seed=seed)


def smallest_detected_slowdown(
    *,
    power: float = 0.95,
    n: int = 10,
    cv: float = 0.03,
    threshold: float = 0.05,
    trials: int = 1000,
    seed: int = DEFAULT_SEED,
    step: float = 0.005,
    max_slowdown: float = 2.0,
) -> float:
    """Smallest slowdown (on a grid of ``step``) flagged in at least ``power`` of trials; bisection on the grid.

    Returns ``math.inf`` when even ``max_slowdown`` is not detected that often.
    """
    lo, hi = 0, math.ceil(max_slowdown / step)
    if detection_rate(hi * step, n=n, cv=cv, threshold=threshold, trials=trials, seed=seed) < power:
        return math.inf
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if detection_rate(mid * step, n=n, cv=cv, threshold=threshold, trials=trials, seed=seed) >= power:
            hi = mid
        else:
            lo = mid
    return round(hi * step, 10)


__all__ = ["detection_rate", "false_alarm_rate", "lognormal_samples", "smallest_detected_slowdown"]

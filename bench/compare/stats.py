"""Statistics on two samples of timings or two single values: pure, no I/O, no torch.

Seconds per image are compared by the ratio of medians (current / baseline) with a percentile-bootstrap confidence
interval (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13), resampling each side independently
with a seeded RNG, so the same inputs always give the same verdict. A change is a **regression only when the whole
interval lies above 1 + threshold**: it must be both significant and larger than the threshold (asv's rule), which
keeps noise from failing CI. With fewer than :data:`MIN_BOOTSTRAP_SAMPLES` samples on a side the bootstrap is
meaningless and the interval is the full range ``[min(cur)/max(base), max(cur)/min(base)]`` instead; with fewer
than :func:`min_samples_for` samples (4 at 95%) no verdict on time is given at all: the result is ``inconclusive``,
never ``unchanged``. A two-sided Mann–Whitney U p-value (normal approximation with tie and continuity correction;
Hollander & Wolfe, *Nonparametric Statistical Methods*, 2nd ed., 1999, section 4.1) is reported alongside.

Peak memory and energy per image are single values per run and are compared against their thresholds directly, with
no noise model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from bench.compare.thresholds import Threshold

CONFIDENCE = 0.95
N_RESAMPLES = 2000
MIN_BOOTSTRAP_SAMPLES = 5
DEFAULT_SEED = 0


def min_samples_for(confidence: float = CONFIDENCE) -> int:
    """The fewest samples per side at which two samples can differ at ``confidence`` at all.

    With ``n`` samples a side, the most extreme outcome, every current sample slower than every baseline one,
    has the exact two-sided rank-test (Mann-Whitney) p-value ``2 / C(2n, n)``: 0.33 at n=2, 0.10 at n=3, 0.029
    at n=4. Below the first ``n`` where that is under ``1 - confidence`` no data can show a difference, so no
    verdict on time is given (the full-range interval used below the bootstrap's minimum is then that same
    extreme-arrangement test).
    """
    n = 1
    while 2 / math.comb(2 * n, n) >= 1.0 - confidence:
        n += 1
    return n


MIN_SAMPLES = min_samples_for(CONFIDENCE)  # 4 at 95%

Verdict = Literal["regression", "improvement", "unchanged", "inconclusive", "unchecked"]


def _clean(samples: Iterable[float] | np.ndarray) -> np.ndarray:
    """Finite, positive samples only: a zero or NaN time is a measurement artefact, not a duration."""
    arr = np.asarray(list(samples), dtype=float)
    return arr[np.isfinite(arr) & (arr > 0)]


SizeUnit = Literal["samples", "processes", "points"]


@dataclass(frozen=True)
class SampleSize:
    """The independent observations on each side of a comparison, in the unit the statistic resamples."""

    baseline: int
    current: int
    unit: SizeUnit = "samples"

    def judged(self, confidence: float = CONFIDENCE) -> bool:
        """Whether a verdict is possible at all: at least :func:`min_samples_for` observations a side."""
        return min(self.baseline, self.current) >= min_samples_for(confidence)

    def note(self, confidence: float = CONFIDENCE) -> str:
        """The "not judged" line every command prints for a comparison this small."""
        return (
            f"not judged: too few samples ({self.baseline} and {self.current} {self.unit}; a {confidence:.0%} "
            f"verdict needs at least {min_samples_for(confidence)} a side)"
        )


def sample_size(baseline_groups: Sequence[Sequence[float]], current_groups: Sequence[Sequence[float]]) -> SampleSize:
    """How many independent observations each side holds: its processes where a side pools several, else samples.

    Calls within one process share its conditions (placement, clocks, the machine's load at the time), which is
    why :func:`grouped_bootstrap_ratio_ci` resamples processes first. When it does, the observations the rank
    bound of :func:`min_samples_for` counts are the processes, not the calls: three processes of five calls each
    are three observations of the between-process noise, and a side of one process has none. Each group is one
    process's samples; empty groups and non-positive samples are left out as :func:`compare_samples` does.
    """
    base = [g for g in map(_clean, baseline_groups) if g.size]
    cur = [g for g in map(_clean, current_groups) if g.size]
    if len(base) > 1 or len(cur) > 1:
        return SampleSize(len(base), len(cur), "processes")
    return SampleSize(sum(g.size for g in base), sum(g.size for g in cur), "samples")


def bootstrap_ratio_ci(
    baseline: np.ndarray, current: np.ndarray, *, confidence: float, n_resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``median(current) / median(baseline)``, resampling both sides."""
    b_idx = rng.integers(0, baseline.size, size=(n_resamples, baseline.size))
    c_idx = rng.integers(0, current.size, size=(n_resamples, current.size))
    ratios = np.median(current[c_idx], axis=1) / np.median(baseline[b_idx], axis=1)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def grouped_bootstrap_ratio_ci(
    baseline: Sequence[np.ndarray],
    current: Sequence[np.ndarray],
    *,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Two-level (hierarchical) bootstrap interval of the median ratio when a side pools several processes.

    Calls within one process share its conditions (placement, clocks, the machine's load at the time), so
    pooling them as independent samples understates the uncertainty. Each resample first draws processes
    with replacement, then calls within each drawn process (Davison & Hinkley, *Bootstrap Methods and their
    Application*, 1997, section 3.8), which carries the process-to-process variation into the interval.
    """

    def resample(groups: Sequence[np.ndarray]) -> float:
        picked = rng.integers(0, len(groups), size=len(groups))
        pooled = np.concatenate([groups[i][rng.integers(0, groups[i].size, size=groups[i].size)] for i in picked])
        return float(np.median(pooled))

    ratios = np.array([resample(current) / resample(baseline) for _ in range(n_resamples)])
    alpha = 1.0 - confidence
    lo, hi = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=float)
    sorted_vals = values[order]
    i = 0
    while i < values.size:
        j = i
        while j + 1 < values.size and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def mann_whitney_p(baseline: np.ndarray, current: np.ndarray) -> float | None:
    """Two-sided Mann–Whitney U p-value (normal approximation, tie- and continuity-corrected).

    Returns None when either side is empty.
    """
    n1, n2 = baseline.size, current.size
    if n1 == 0 or n2 == 0:
        return None
    pooled = np.concatenate([baseline, current])
    ranks = _average_ranks(pooled)
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    _, tie_counts = np.unique(pooled, return_counts=True)
    tie_term = float(np.sum(tie_counts.astype(float) ** 3 - tie_counts)) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0
    z = max(0.0, abs(u1 - n1 * n2 / 2.0) - 0.5) / math.sqrt(variance)
    return min(1.0, 2.0 * (1.0 - NormalDist().cdf(z)))


@dataclass(frozen=True)
class TimeComparison:
    """Seconds per image, baseline vs current: ratio of medians with its confidence interval."""

    baseline_median_s: float
    current_median_s: float
    ratio: float
    ci_low: float
    ci_high: float
    confidence: float
    n_baseline: int
    n_current: int
    method: Literal["bootstrap", "range"]
    p_value: float | None
    threshold: Threshold
    verdict: Verdict


def compare_samples(
    baseline_s: Sequence[float] | np.ndarray,
    current_s: Sequence[float] | np.ndarray,
    threshold: Threshold | float = 0.05,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    rng: np.random.Generator | None = None,
    baseline_groups: Sequence[Sequence[float]] | None = None,
    current_groups: Sequence[Sequence[float]] | None = None,
) -> TimeComparison:
    """Compare two samples of seconds per image.

    Args:
        baseline_s: Baseline seconds per image, one per measured call.
        current_s: Current seconds per image.
        baseline_groups: The same samples split by the process (run record) that measured them; when either
            side has several, the interval comes from :func:`grouped_bootstrap_ratio_ci`.
        current_groups: As ``baseline_groups``, for the current side.
        threshold: A ``median`` :class:`Threshold`, or the allowed slowdown as a fraction (0.05 = 5%).
        confidence: Two-sided confidence of the interval.
        n_resamples: Bootstrap resamples.
        rng: Random generator; a fixed-seed one when omitted, so results are reproducible.

    Returns:
        The comparison; ``verdict`` is ``regression`` only when ``ci_low > 1 + threshold``, ``improvement`` only
        when ``ci_high < 1 / (1 + threshold)``, ``inconclusive`` when the point estimate is past the threshold
        but the interval is not.

    Raises:
        ValueError: a side has no positive finite sample.
    """
    rule = (
        threshold if isinstance(threshold, Threshold) else Threshold(metric="median", kind="percent", value=threshold)
    )
    base, cur = _clean(baseline_s), _clean(current_s)
    if base.size == 0 or cur.size == 0:
        raise ValueError("compare_samples needs at least one positive, finite sample on each side")
    b_med, c_med = float(np.median(base)), float(np.median(cur))
    ratio = c_med / b_med
    if min(base.size, cur.size) >= MIN_BOOTSTRAP_SAMPLES:
        gen = rng if rng is not None else np.random.default_rng(DEFAULT_SEED)
        b_groups = [g for g in map(_clean, baseline_groups or []) if g.size] or [base]
        c_groups = [g for g in map(_clean, current_groups or []) if g.size] or [cur]
        if len(b_groups) > 1 or len(c_groups) > 1:
            lo, hi = grouped_bootstrap_ratio_ci(
                b_groups, c_groups, confidence=confidence, n_resamples=n_resamples, rng=gen
            )
        else:
            lo, hi = bootstrap_ratio_ci(base, cur, confidence=confidence, n_resamples=n_resamples, rng=gen)
        method: Literal["bootstrap", "range"] = "bootstrap"
    else:
        lo, hi = float(cur.min() / base.max()), float(cur.max() / base.min())
        method = "range"
    # The point estimate always lies inside the interval reported.
    lo, hi = min(lo, ratio), max(hi, ratio)
    verdict: Verdict
    if not rule.enabled:
        verdict = "unchecked"
    elif min(base.size, cur.size) < min_samples_for(confidence):
        verdict = "inconclusive"  # not judged: no data this small can show a change at this confidence
    elif lo > 1.0 + rule.value:
        verdict = "regression"
    elif hi * (1.0 + rule.value) < 1.0:
        verdict = "improvement"
    elif ratio > 1.0 + rule.value or ratio * (1.0 + rule.value) < 1.0:
        verdict = "inconclusive"
    else:
        verdict = "unchanged"
    return TimeComparison(
        baseline_median_s=b_med,
        current_median_s=c_med,
        ratio=ratio,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        n_baseline=int(base.size),
        n_current=int(cur.size),
        method=method,
        p_value=mann_whitney_p(base, cur),
        threshold=rule,
        verdict=verdict,
    )


def withdraw_verdict(time: TimeComparison) -> TimeComparison:
    """``time`` with no verdict on it (``inconclusive``; ``unchecked`` stays): for a comparison too small to judge.

    Used where the observations that count are fewer than the samples ``compare_samples`` saw (processes, not
    calls: :func:`sample_size`); the point estimate and its interval are kept for the reader.
    """
    return dataclasses.replace(time, verdict="unchecked" if time.verdict == "unchecked" else "inconclusive")


@dataclass(frozen=True)
class ValueComparison:
    """A single-valued metric (peak memory, energy per image), baseline vs current."""

    field: str
    unit: str
    baseline: float
    current: float
    threshold: Threshold
    verdict: Verdict

    @property
    def delta(self) -> float:
        return self.current - self.baseline

    @property
    def ratio(self) -> float | None:
        return self.current / self.baseline if self.baseline else None


def compare_value(field_name: str, unit: str, baseline: float, current: float, threshold: Threshold) -> ValueComparison:
    """Compare one metric where larger is worse; memory is compared strictly, with no noise model."""
    verdict: Verdict
    if not threshold.enabled:
        verdict = "unchecked"
    elif threshold.limit_exceeded(baseline, current):
        verdict = "regression"
    elif threshold.limit_improved(baseline, current):
        verdict = "improvement"
    else:
        verdict = "unchanged"
    return ValueComparison(field_name, unit, baseline, current, threshold, verdict)


__all__ = [
    "CONFIDENCE",
    "DEFAULT_SEED",
    "MIN_BOOTSTRAP_SAMPLES",
    "MIN_SAMPLES",
    "N_RESAMPLES",
    "SampleSize",
    "SizeUnit",
    "TimeComparison",
    "ValueComparison",
    "Verdict",
    "bootstrap_ratio_ci",
    "compare_samples",
    "compare_value",
    "grouped_bootstrap_ratio_ci",
    "mann_whitney_p",
    "min_samples_for",
    "sample_size",
    "withdraw_verdict",
]

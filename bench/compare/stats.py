"""Statistics on two samples of timings or two single values: pure, no I/O, no torch.

Seconds per image are compared by the ratio of medians (current / baseline) with a confidence interval, and a
change is a **regression only when the whole interval lies above 1 + threshold**: it must be both significant
and larger than the threshold (asv's rule), which keeps noise from failing CI. The interval depends on what the
independent observations are (:func:`sample_size`):

* **one process a side** (its calls are the observations): a percentile bootstrap (Efron & Tibshirani, *An
  Introduction to the Bootstrap*, 1993, ch. 13) resampling each side with a seeded RNG, so the same inputs
  always give the same verdict; below :data:`MIN_BOOTSTRAP_SAMPLES` a side, the full range
  ``[min(cur)/max(base), max(cur)/min(base)]``;
* **several processes on a side** (``kbench ab`` rounds, pooled result files, a history's commits): the
  distribution-free interval of the rank test on the processes' medians (:func:`rank_ratio_ci`), whose
  false-alarm rate is exact whatever the noise between processes is.

With fewer than :func:`min_samples_for` observations a side (4 at 95%) no verdict on time is given at all: the
result is ``inconclusive``, never ``unchanged``. When several runs are judged at once (a ``compare`` or ``ab``
job whose exit status fails on any of them) each interval is taken at the Bonferroni level
:func:`per_test_confidence`, so the chance that *any* run of an unchanged job is called a regression stays
under ``(1 - confidence) / 2``. A two-sided Mann–Whitney U p-value (normal approximation with tie and continuity
correction; Hollander & Wolfe, *Nonparametric Statistical Methods*, 2nd ed., 1999, section 4.1) is reported
alongside.

Peak memory and energy per image are single values per run and are compared against their thresholds directly, with
no noise model.
"""

from __future__ import annotations

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
EXACT_RANK_PAIRS = 10_000  # up to this many pairs (100 processes a side) the rank interval's k is exact


def per_test_confidence(confidence: float = CONFIDENCE, family: int = 1) -> float:
    """The confidence each of ``family`` intervals needs so that all hold together with ``confidence``.

    A job fails when *any* of its runs is a regression, so its false-alarm rate is that of the union of its
    runs' tests: up to ``family`` times one run's. Bonferroni's inequality bounds the union by the sum, so
    intervals at ``1 - (1 - confidence) / family`` each keep the job's rate under ``(1 - confidence) / 2``
    (one-sided: only a slowdown fails), whatever the dependence between runs.
    """
    return 1.0 - (1.0 - confidence) / max(1, family)


def min_samples_for(confidence: float = CONFIDENCE, family: int = 1) -> int:
    """The fewest samples per side at which two samples can differ at ``confidence`` at all.

    With ``n`` samples a side, the most extreme outcome, every current sample slower than every baseline one,
    has the exact two-sided rank-test (Mann-Whitney) p-value ``2 / C(2n, n)``: 0.33 at n=2, 0.10 at n=3, 0.029
    at n=4, 0.0079 at n=5. Below the first ``n`` where that is under ``1 - confidence`` no data can show a
    difference, so no verdict on time is given (the full-range interval used below the bootstrap's minimum is
    then that same extreme-arrangement test). With ``family`` runs judged together the bound is at
    :func:`per_test_confidence`: 4 a side for one run at 95%, 5 for two to six runs, 6 for up to 23.
    """
    alpha = 1.0 - per_test_confidence(confidence, family)
    n = 1
    while 2 / math.comb(2 * n, n) >= alpha:
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

    def judged(self, confidence: float = CONFIDENCE, family: int = 1) -> bool:
        """Whether a verdict is possible at all: at least :func:`min_samples_for` observations a side."""
        return min(self.baseline, self.current) >= min_samples_for(confidence, family)

    def note(self, confidence: float = CONFIDENCE, family: int = 1) -> str:
        """The "not judged" line every command prints for a comparison this small."""
        over = f" over {family} runs" if family > 1 else ""
        return (
            f"not judged: too few samples ({self.baseline} and {self.current} {self.unit}; a {confidence:.0%} "
            f"verdict{over} needs at least {min_samples_for(confidence, family)} a side)"
        )


def sample_size(
    baseline_groups: Sequence[Sequence[float] | np.ndarray], current_groups: Sequence[Sequence[float] | np.ndarray]
) -> SampleSize:
    """How many independent observations each side holds: its processes where a side pools several, else samples.

    Calls within one process share its conditions (placement, clocks, the machine's load at the time), so where
    a side pools several processes the observations are the processes, not the calls: three processes of five
    calls each are three observations of the between-process noise, and a side of one process has none. That is
    what :func:`compare_samples` tests then (:func:`rank_ratio_ci` on the processes' medians), and what the rank
    bound of :func:`min_samples_for` counts. Each group is one process's samples; empty groups and non-positive
    samples are left out as :func:`compare_samples` does.
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


def _rank_lower_tail(m: int, n: int, size: int) -> np.ndarray:
    """``P(U = u)`` for ``u < size`` under no difference, ``U`` the Mann-Whitney count of ``m`` and ``n`` values.

    The largest of the pooled values comes from the first sample with probability ``m / (m + n)``, and then
    beats all ``n`` of the second: ``P_{m,n}(u) = m/(m+n) P_{m-1,n}(u - n) + n/(m+n) P_{m,n-1}(u)``
    (Mann & Whitney 1947), exact for continuous data; floats, since the counts ``C(m+n, m)`` outgrow integers.
    """
    unit = np.zeros(size)
    unit[0] = 1.0
    prev = [unit.copy() for _ in range(n + 1)]  # m = 0: U is 0
    for i in range(1, m + 1):
        row = [unit.copy()]
        for j in range(1, n + 1):
            shifted = np.zeros(size)
            if j < size:
                shifted[j:] = prev[j][: size - j]
            row.append(i / (i + j) * shifted + j / (i + j) * row[j - 1])
        prev = row
    return prev[n]


def rank_ratio_ci(baseline: np.ndarray, current: np.ndarray, *, confidence: float) -> tuple[float, float, bool]:
    """The distribution-free interval of ``current / baseline`` from the rank test (Moses' interval), and its rank.

    The observations are taken as independent, and a change as one factor on all of them (a shift of their
    logarithms). The interval runs from the ``k``-th smallest to the ``k``-th largest of the ``m·n`` pairwise
    ratios ``current_i / baseline_j``, ``k`` the largest with ``P(U <= k - 1) <= (1 - confidence) / 2`` under no
    change (Hollander & Wolfe 1999, section 4.3). Its lower end exceeds 1 exactly when the one-sided rank test
    rejects at ``(1 - confidence) / 2``, so an unchanged pair is called slower at most that often, however the
    observations are distributed: no bootstrap, and no narrowing at four or five a side. The third value is
    False where no ``k`` reaches the level (too few observations): the interval is then the full range.
    """
    m, n = baseline.size, current.size
    ratios = np.sort(np.log(current)[:, None] - np.log(baseline)[None, :], axis=None)
    if m * n <= EXACT_RANK_PAIRS:
        tail = np.cumsum(_rank_lower_tail(m, n, m * n // 2 + 1))
        k = int(np.searchsorted(tail, (1.0 - confidence) / 2 * (1 + 1e-9), side="right"))
    else:  # the large-sample approximation (Hollander & Wolfe 1999, section 4.3): within one rank of exact here
        z = NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2)
        k = max(0, math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12)))
    exact = k >= 1
    k = max(k, 1)
    return float(np.exp(ratios[k - 1])), float(np.exp(ratios[m * n - k])), exact


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
    method: Literal["bootstrap", "range", "rank"]
    p_value: float | None
    threshold: Threshold
    verdict: Verdict
    size: SampleSize  # the observations the verdict rests on: processes where a side pools several, else calls
    family: int = 1  # runs judged together: the interval is at per_test_confidence(confidence, family)


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
    family: int = 1,
) -> TimeComparison:
    """Compare two samples of seconds per image.

    Args:
        baseline_s: Baseline seconds per image, one per measured call.
        current_s: Current seconds per image.
        baseline_groups: The same samples split by the process (run record) that measured them; when either
            side has several, the processes are the observations (:func:`sample_size`) and the interval is
            :func:`rank_ratio_ci` on their medians.
        current_groups: As ``baseline_groups``, for the current side.
        threshold: A ``median`` :class:`Threshold`, or the allowed slowdown as a fraction (0.05 = 5%).
        confidence: Two-sided confidence of the interval (of all ``family`` intervals together).
        n_resamples: Bootstrap resamples.
        rng: Random generator; a fixed-seed one when omitted, so results are reproducible.
        family: How many runs are judged together with this one (:func:`per_test_confidence`).

    Returns:
        The comparison; ``verdict`` is ``regression`` only when ``ci_low > 1 + threshold``, ``improvement`` only
        when ``ci_high < 1 / (1 + threshold)``, ``inconclusive`` when the point estimate is past the threshold
        but the interval is not, or when too few observations carry a verdict.

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
    level = per_test_confidence(confidence, family)
    b_groups = [g for g in map(_clean, baseline_groups or []) if g.size] or [base]
    c_groups = [g for g in map(_clean, current_groups or []) if g.size] or [cur]
    size = sample_size(b_groups, c_groups)
    method: Literal["bootstrap", "range", "rank"]
    if size.unit == "processes":  # the processes are the observations: the rank interval on their medians
        b_obs, c_obs = np.array([np.median(g) for g in b_groups]), np.array([np.median(g) for g in c_groups])
        lo, hi, _ = rank_ratio_ci(b_obs, c_obs, confidence=level)
        method = "rank"
    elif min(base.size, cur.size) >= MIN_BOOTSTRAP_SAMPLES:
        b_obs, c_obs = base, cur
        gen = rng if rng is not None else np.random.default_rng(DEFAULT_SEED)
        lo, hi = bootstrap_ratio_ci(base, cur, confidence=level, n_resamples=n_resamples, rng=gen)
        method = "bootstrap"
    else:
        b_obs, c_obs = base, cur
        lo, hi = float(cur.min() / base.max()), float(cur.max() / base.min())
        method = "range"
    # The point estimate always lies inside the interval reported.
    lo, hi = min(lo, ratio), max(hi, ratio)
    verdict: Verdict
    if not rule.enabled:
        verdict = "unchecked"
    elif not size.judged(confidence, family):
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
        p_value=mann_whitney_p(b_obs, c_obs),
        threshold=rule,
        verdict=verdict,
        size=size,
        family=max(1, family),
    )


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
    "mann_whitney_p",
    "min_samples_for",
    "per_test_confidence",
    "rank_ratio_ci",
    "sample_size",
]

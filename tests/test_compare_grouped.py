"""The comparison when a side pools several measuring processes: the processes are the observations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.compare.stats import compare_samples, rank_ratio_ci, sample_size


def _flat(groups: list[list[float]]) -> list[float]:
    return [x for g in groups for x in g]


def _tight(rng: np.random.Generator, level: float, n: int = 10) -> list[float]:
    return list(level * np.exp(rng.normal(0.0, 0.005, n)))


def _grouped(base_groups: list[list[float]], cur_groups: list[list[float]], threshold: float = 0.05):
    return compare_samples(
        _flat(base_groups), _flat(cur_groups), threshold, baseline_groups=base_groups, current_groups=cur_groups
    )


def test_process_level_spread_widens_the_interval():
    rng = np.random.default_rng(7)
    # four processes a side, the sides 10% apart; one base process as slow as a head one
    base_groups = [_tight(rng, level) for level in (1.00, 1.02, 1.04, 1.10)]
    cur_groups = [_tight(rng, level) for level in (1.06, 1.12, 1.14, 1.16)]
    flat = compare_samples(_flat(base_groups), _flat(cur_groups), 0.05)
    grouped = _grouped(base_groups, cur_groups)
    # Pooled as if independent, the 40 calls make the slowdown look certain ...
    assert flat.verdict == "regression" and flat.method == "bootstrap"
    # ... but across four processes a side, that is within what the spread between processes produces.
    assert grouped.method == "rank" and grouped.size == sample_size(base_groups, cur_groups)
    assert grouped.verdict in ("inconclusive", "unchanged")
    assert grouped.ci_low < 1.05 < grouped.ci_high
    assert grouped.ratio == flat.ratio


def test_consistent_slowdown_across_four_processes_is_flagged():
    rng = np.random.default_rng(8)
    base_groups = [_tight(rng, level) for level in (1.00, 1.01, 0.99, 1.02)]
    cur_groups = [_tight(rng, level) for level in (1.20, 1.21, 1.19, 1.22)]
    result = _grouped(base_groups, cur_groups)
    assert result.verdict == "regression" and result.ci_low > 1.05
    # the same slowdown judged with the five other runs of a job: 4 processes cannot reach 95% over 6 runs
    family = compare_samples(
        _flat(base_groups), _flat(cur_groups), 0.05, baseline_groups=base_groups, current_groups=cur_groups, family=6
    )
    assert family.verdict == "inconclusive" and not family.size.judged(0.95, 6)


def test_a_pooled_side_of_three_processes_is_not_judged_however_many_calls():
    """Three processes of ten calls: 30 samples, but three observations of the noise between processes."""
    rng = np.random.default_rng(9)
    base_groups = [_tight(rng, level) for level in (1.00, 1.01, 0.99)]
    cur_groups = [_tight(rng, level) for level in (1.50, 1.51, 1.49)]
    result = _grouped(base_groups, cur_groups)
    assert (result.n_baseline, result.n_current) == (30, 30)
    assert (result.size.baseline, result.size.current, result.size.unit) == (3, 3, "processes")
    assert result.verdict == "inconclusive"  # 2 / C(6, 3) = 0.10: no arrangement of 3 and 3 is significant


def test_rank_interval_is_the_exact_moses_interval():
    base, cur = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([6.0, 7.0, 8.0, 9.0, 10.0])
    # 5 and 5: P(U <= 2) = 4/252 <= 0.025 < P(U <= 3) = 7/252, so k = 3: the 3rd smallest and largest ratios
    ratios = np.sort((cur[:, None] / base[None, :]).ravel())
    lo, hi, exact = rank_ratio_ci(base, cur, confidence=0.95)
    assert exact and (lo, hi) == (pytest.approx(ratios[2]), pytest.approx(ratios[-3]))
    assert 4 / math.comb(10, 5) <= 0.025 < 7 / math.comb(10, 5)
    # too few to reach the level: the full range, marked as not at it
    lo, hi, exact = rank_ratio_ci(base[:3], cur[:3], confidence=0.95)
    assert not exact and (lo, hi) == (pytest.approx(6.0 / 3.0), pytest.approx(8.0 / 1.0))


def test_many_processes_use_the_large_sample_rank():
    """Past 10,000 pairs the rank comes from the normal approximation of U (within one rank of the exact one)."""
    rng = np.random.default_rng(10)
    m, n = 120, 100
    base, cur = np.exp(rng.normal(0.0, 0.1, m)), np.exp(rng.normal(0.0, 0.1, n))
    lo, hi, exact = rank_ratio_ci(base, cur, confidence=0.95)
    assert exact and lo < 1.0 < hi
    ratios = np.sort((cur[:, None] / base[None, :]).ravel())
    k = math.floor(m * n / 2 - 1.959964 * math.sqrt(m * n * (m + n + 1) / 12))
    assert (lo, hi) == (pytest.approx(ratios[k - 1]), pytest.approx(ratios[m * n - k]))

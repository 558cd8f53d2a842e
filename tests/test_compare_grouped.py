"""The two-level bootstrap used when a side pools several measuring processes."""

from __future__ import annotations

import numpy as np

from bench.compare.stats import compare_samples


def _flat(groups: list[list[float]]) -> list[float]:
    return [x for g in groups for x in g]


def _tight(rng: np.random.Generator, level: float, n: int = 10) -> list[float]:
    return list(level * np.exp(rng.normal(0.0, 0.005, n)))


def test_process_level_spread_widens_the_interval():
    rng = np.random.default_rng(7)
    # three processes a side; processes differ by 3% among themselves, the sides by 7%
    base_groups = [_tight(rng, 1.00), _tight(rng, 1.03), _tight(rng, 1.06)]
    cur_groups = [_tight(rng, 1.07), _tight(rng, 1.10), _tight(rng, 1.13)]
    flat = compare_samples(_flat(base_groups), _flat(cur_groups), 0.05)
    grouped = compare_samples(
        _flat(base_groups), _flat(cur_groups), 0.05, baseline_groups=base_groups, current_groups=cur_groups
    )
    # Pooled as if independent, the calls make a 7% slowdown look certain ...
    assert flat.verdict == "regression"
    # ... but with three processes a side, 7% is within what the spread between processes produces.
    assert grouped.verdict in ("inconclusive", "unchanged")
    assert grouped.ci_low < 1.05 < grouped.ci_high
    assert grouped.ratio == flat.ratio


def test_consistent_slowdown_across_processes_is_still_flagged():
    rng = np.random.default_rng(8)
    base_groups = [_tight(rng, 1.00), _tight(rng, 1.01), _tight(rng, 0.99)]
    cur_groups = [_tight(rng, 1.20), _tight(rng, 1.21), _tight(rng, 1.19)]
    result = compare_samples(
        _flat(base_groups), _flat(cur_groups), 0.05, baseline_groups=base_groups, current_groups=cur_groups
    )
    assert result.verdict == "regression"
    assert result.ci_low > 1.05

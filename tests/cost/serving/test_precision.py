"""Simulated answers: seeds combined, precise enough, honest about their limits, and meeting the SLO they report."""

from __future__ import annotations

import pytest

from bench.cost.serving import exact
from bench.cost.serving.estimate import Precision, load_point, replicated, simulated
from bench.cost.serving.gpus import cost_at_slo
from bench.cost.serving.search import max_rate_at_slo
from bench.cost.serving.section import CURVE_PRECISION, curve_basis
from bench.cost.serving.service import BatchTime, ServiceTimes, fill_batches
from bench.cost.serving.simulate import QueueConfig


def fixed_but_simulated(seconds: float) -> ServiceTimes:
    """An M/D/1 queue the search must simulate (all 'measured' calls equal), so its answer can be checked."""
    return ServiceTimes({1: BatchTime(1, seconds, "measured", samples=(seconds,) * 4)})


def test_seeds_no_longer_move_the_max_rate():
    """Seeds 1-5 moved a one-run max rate by ±25%; combined and run to ±2% on the p99 they agree within 3%."""
    service, slo = fixed_but_simulated(1.0), 4.0
    truth = exact.md1_max_rate(slo, 0.99, 1.0)
    assert truth is not None
    for seed in range(1, 6):
        result = max_rate_at_slo(service, QueueConfig(seed=seed), slo)
        assert result.max_rate_per_s is not None and result.point is not None
        assert result.max_rate_per_s == pytest.approx(truth, rel=0.03)
        assert result.point.p99_s <= slo  # the reported rate meets the SLO as simulated ...
        assert exact.md1_latency_quantile(0.99, result.max_rate_per_s, 1.0) <= slo * 1.02  # ... and in truth
        assert result.rate_sampling is not None
        assert result.rate_sampling[0] <= truth <= result.rate_sampling[1]  # the interval carries sampling error
        basis = result.point.basis
        assert basis.seeds == 10 and basis.p99_rel_halfwidth is not None and basis.p99_rel_halfwidth <= 0.02
        assert "x 10 seeds" in basis.text() and "p99 95% interval ±" in basis.text()


def test_runs_grow_until_the_p99_is_within_two_percent():
    service = fixed_but_simulated(1.0)
    first = replicated(service, QueueConfig(), 0.7, 2_000, Precision())
    final = simulated(service, QueueConfig(), 0.7, Precision())
    assert first.basis.p99_rel_halfwidth is not None and first.basis.p99_rel_halfwidth > 0.02
    assert final.basis.requests > 2_000 and final.completed == final.basis.requests * 10
    assert final.basis.p99_rel_halfwidth is not None and final.basis.p99_rel_halfwidth <= 0.02
    assert not final.basis.short_of_target and "short of" not in final.basis.text()


def test_a_spent_budget_is_said_not_hidden():
    point = simulated(fixed_but_simulated(1.0), QueueConfig(), 0.9, Precision(budget=20_000))
    assert point.basis.short_of_target and point.basis.requests == 2_000
    assert "short of the ±2% target: the budget of 20,000 simulated requests per load point reached" in (
        point.basis.text()
    )
    assert point.basis.short().endswith("!")


def test_a_horizon_cut_is_said_not_hidden():
    point = simulated(fixed_but_simulated(1.0), QueueConfig(horizon_s=500.0), 0.5, Precision())
    assert point.basis.arrived is not None and point.basis.arrived < point.basis.requests
    assert "cut by the 500 s simulated horizon" in point.basis.text()


def test_deterministic_queues_take_one_run_with_no_sampling_error():
    service = fill_batches({1: BatchTime(1, 1.0, "projected"), 4: BatchTime(4, 2.0, "projected")}, 4)
    point = simulated(service, QueueConfig(arrivals="constant", max_batch=4), 1.5, Precision())
    assert point.basis.seeds == 1 and point.basis.p99_rel_halfwidth == 0 and "no sampling error" in point.basis.text()


def test_batching_is_simulated_and_its_interval_includes_the_sampling_error():
    """Batching has no closed form here: the max rate is simulated; cost_at_slo's interval covers its error."""
    service = fill_batches({1: BatchTime(1, 1.0, "projected"), 4: BatchTime(4, 2.0, "projected")}, 4)
    cost = cost_at_slo(service, QueueConfig(max_batch=4, seed=1), 6.0, usd_per_hour=1.0)
    rate = cost.slo.max_rate_per_s
    assert rate is not None and cost.basis is not None and cost.basis.method == "simulated"
    assert cost.slo.point is not None and cost.slo.point.p99_s <= 6.0
    assert cost.rate_interval is not None and cost.rate_interval[0] < rate < cost.rate_interval[1]
    assert cost.slo.rate_sampling is not None and cost.rate_interval == cost.slo.rate_sampling  # no projection band
    assert cost.usd_per_1k == pytest.approx(1000 / (3600 * rate))


def test_a_curve_says_how_its_points_were_computed():
    exact_points = [load_point(fixed(1.0), QueueConfig(), r) for r in (0.2, 0.5)]
    assert curve_basis(exact_points) == "points: exact M/D/1 (Erlang's waiting-time distribution)"
    sim = [simulated(fixed_but_simulated(1.0), QueueConfig(), r, CURVE_PRECISION) for r in (0.2, 0.5)]
    text = curve_basis([*exact_points, *sim])
    assert "exact M/D/1" in text and "2 point(s) simulated, 10 seeds combined" in text
    assert "p99 95% interval up to ±" in text and "short of" not in text


def fixed(seconds: float) -> ServiceTimes:
    return ServiceTimes({1: BatchTime(1, seconds, "projected")})

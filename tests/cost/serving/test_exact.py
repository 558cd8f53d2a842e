"""The exact queues (M/D/1, M/M/1, D/D/1) against independent references, and the simulator against them."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest

from bench.cost.serving import exact
from bench.cost.serving.estimate import Precision, exact_method, load_point, simulated
from bench.cost.serving.search import max_rate_at_slo
from bench.cost.serving.service import BatchTime, ServiceTimes
from bench.cost.serving.simulate import QueueConfig


def erlang_md1_cdf(t: float, lam: float, d: float) -> float:
    """Erlang's alternating sum, in 60 + 2 lam t digits so its cancellation costs nothing: the reference."""
    with localcontext() as ctx:
        ctx.prec = 60 + int(2 * lam * t)
        lam_, d_, t_ = Decimal(lam), Decimal(d), Decimal(t)
        total = Decimal(0)
        for k in range(math.floor(t / d) + 1):
            x = lam_ * (k * d_ - t_)
            total += (x**k if k else Decimal(1)) / math.factorial(k) * (-x).exp()
        return float((1 - lam_ * d_) * total)


def fixed(seconds: float) -> ServiceTimes:
    return ServiceTimes({1: BatchTime(1, seconds, "projected")})


def fixed_but_simulated(seconds: float) -> ServiceTimes:
    """The same M/D/1 queue, but with 'measured samples' all equal: no closed form is taken, it is simulated."""
    return ServiceTimes({1: BatchTime(1, seconds, "measured", samples=(seconds,) * 4)})


@pytest.mark.parametrize(
    ("rho", "d", "t"), [(0.3, 1.0, 0.4), (0.3, 1.0, 1.5), (0.7, 1.0, 6.3), (0.9, 2.0, 25.7), (0.68, 2.91, 17.09)]
)
def test_md1_cdf_is_erlangs_formula(rho, d, t):
    lam = rho / d
    assert exact.md1_wait_cdf(t, lam, d) == pytest.approx(erlang_md1_cdf(t, lam, d), abs=1e-12)


def test_md1_holds_its_precision_at_high_load():
    """At rho = 0.95 Erlang's sum in doubles is garbage past lam t ~ 40; the positive form integrates to P-K's mean."""
    lam, d = 0.95, 1.0
    ts = np.linspace(0.0, 400.0, 4_001)
    cdf = exact.md1_wait_cdfs(ts, lam, d)
    assert np.all(np.diff(cdf) >= -1e-12) and cdf[0] == pytest.approx(1 - lam) and cdf[-1] > 1 - 1e-9
    assert exact.md1_wait_cdf(123.4, lam, d) == pytest.approx(float(exact.md1_wait_cdfs(np.array([123.4]), lam, d)[0]))
    mean = float(np.trapezoid(1 - cdf, ts))  # E[W] = integral of P(W > t)
    assert mean == pytest.approx(exact.md1_mean_wait_s(lam, d), rel=1e-4)


def test_mm1_is_exponential():
    lam, s = 0.7, 1.0
    assert exact.mm1_latency_quantile(0.99, lam, s) == pytest.approx(math.log(100) / (1 - lam))
    assert exact.mm1_wait_cdf(0.0, lam, s) == pytest.approx(1 - lam)
    rate = exact.mm1_max_rate(20.0, 0.99, 2.0)
    assert rate is not None and exact.mm1_latency_quantile(0.99, rate, 2.0) == pytest.approx(20.0)
    assert exact.mm1_max_rate(5.0, 0.99, 2.0) is None  # ln(100) x 2 s = 9.2 s > 5 s even alone


@pytest.mark.parametrize("d", [2.28, 2.91, 8.2, 13.4, 17.1])  # the recommend example's GPUs, s per image
def test_md1_max_rate_puts_the_exact_p99_on_the_slo(d):
    rate = exact.md1_max_rate(20.0, 0.99, d)
    assert rate is not None and 0 < rate < 1 / d
    assert exact.md1_latency_quantile(0.99, rate, d) == pytest.approx(20.0, rel=1e-8)
    result = max_rate_at_slo(fixed(d), QueueConfig(), 20.0)
    assert result.max_rate_per_s is not None and result.point is not None
    assert result.point.p99_s <= 20.0 and result.max_rate_per_s == pytest.approx(rate, rel=1e-8)


def test_which_queues_are_exact():
    assert exact_method(fixed(1.0), QueueConfig()) == "M/D/1"
    assert exact_method(fixed(1.0), QueueConfig(arrivals="constant")) == "D/D/1"
    expo = ServiceTimes({1: BatchTime(1, 1.0, "projected")}, shape="exponential")
    assert exact_method(expo, QueueConfig()) == "M/M/1"
    assert exact_method(expo, QueueConfig(arrivals="constant")) is None
    for cfg in (QueueConfig(replicas=2), QueueConfig(idle_start_s=0.1), QueueConfig(arrivals="closed")):
        assert exact_method(fixed(1.0), cfg) is None
    assert exact_method(fixed_but_simulated(1.0), QueueConfig()) is None


@pytest.mark.parametrize("rho", [0.3, 0.7])
def test_the_simulated_md1_lands_on_the_exact_percentiles(rho):
    """Seeds combined, runs made long enough for a ±2% p99: the exact p99 is inside the reported interval."""
    ex = load_point(fixed(1.0), QueueConfig(), rho)
    sim = simulated(fixed_but_simulated(1.0), QueueConfig(seed=5), rho, Precision())
    assert ex.basis.method == "M/D/1" and ex.completed == 0 and sim.basis.method == "simulated"
    assert sim.basis.seeds == 10 and sim.basis.p99_rel_halfwidth is not None and sim.basis.p99_rel_halfwidth <= 0.02
    assert sim.p99_interval is not None and sim.p99_interval[0] <= ex.p99_s <= sim.p99_interval[1]
    assert sim.p50_s == pytest.approx(ex.p50_s, rel=0.02) and sim.p90_s == pytest.approx(ex.p90_s, rel=0.02)
    assert sim.mean_wait_s == pytest.approx(ex.mean_wait_s, rel=0.05)


def test_the_simulated_mm1_lands_on_the_exact_percentiles():
    expo = ServiceTimes({1: BatchTime(1, 1.0, "projected")}, shape="exponential")
    ex = load_point(expo, QueueConfig(), 0.6)
    sim = simulated(expo, QueueConfig(seed=3), 0.6, Precision())
    assert ex.basis.method == "M/M/1" and ex.p99_s == pytest.approx(math.log(100) / 0.4)
    assert sim.p99_interval is not None and sim.p99_interval[0] <= ex.p99_s <= sim.p99_interval[1]
    assert sim.p50_s == pytest.approx(ex.p50_s, rel=0.03)


def test_dd1_never_waits_below_saturation_and_its_max_rate_is_saturation():
    point = load_point(fixed(0.25), QueueConfig(arrivals="constant"), 3.9)
    assert point.basis.method == "D/D/1" and point.p99_s == pytest.approx(0.25) and point.mean_wait_s == 0
    result = max_rate_at_slo(fixed(0.25), QueueConfig(arrivals="constant", overhead_s=0.05), 0.3)
    assert result.max_rate_per_s == pytest.approx(4.0) and result.point is not None
    assert result.point.p99_s == pytest.approx(0.3)

"""The simulator against queues whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.cost.serving import exact
from bench.cost.serving.estimate import load_point
from bench.cost.serving.search import max_rate_at_slo, replicas_for_rate, saturation_per_s
from bench.cost.serving.service import BatchTime, ServiceTimes, fill_batches
from bench.cost.serving.simulate import QueueConfig, replay, simulate, simulate_events


def fixed(seconds: float, max_batch: int = 1, per_image: float | None = None) -> ServiceTimes:
    """Deterministic service: ``seconds`` at batch 1, ``seconds + (b - 1) * per_image`` at batch b."""
    step = seconds if per_image is None else per_image
    return ServiceTimes({b: BatchTime(b, seconds + (b - 1) * step, "measured") for b in range(1, max_batch + 1)})


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.85])
def test_md1_mean_wait_matches_pollaczek_khinchine(rho):
    """M/D/1: W = rho * S / (2 (1 - rho)) (Pollaczek-Khinchine with zero service variance)."""
    s = 0.5
    point = simulate(fixed(s), QueueConfig(max_requests=40_000, seed=3), rho / s)
    expected = rho * s / (2 * (1 - rho))
    assert point.mean_wait_s == pytest.approx(expected, rel=0.06)
    assert point.utilisation == pytest.approx(rho, rel=0.03)
    assert point.mean_s == pytest.approx(expected + s, rel=0.03)


def test_mm1_like_mean_wait_with_exponential_calls():
    """Calls drawn from exponential samples make an M/M/1: W = rho * S / (1 - rho), twice the M/D/1 wait."""
    s, rho = 1.0, 0.7
    samples = tuple(np.random.default_rng(7).exponential(s, 20_000))
    mean_s = float(np.mean(samples))
    service = ServiceTimes({1: BatchTime(1, float(np.median(samples)), "measured", samples=samples)})
    point = simulate(service, QueueConfig(max_requests=40_000, seed=5), rho / mean_s)
    assert point.mean_wait_s == pytest.approx(rho * mean_s / (1 - rho), rel=0.1)
    deterministic = simulate(fixed(mean_s), QueueConfig(max_requests=40_000, seed=5), rho / mean_s)
    assert point.mean_wait_s > 1.6 * deterministic.mean_wait_s


def test_dd1_below_saturation_never_waits():
    point = simulate(fixed(0.2), QueueConfig(arrivals="constant", max_requests=500), 4.9)
    assert point.mean_wait_s == 0.0 and point.p99_wait_s == 0.0
    assert point.p99_s == pytest.approx(0.2)
    assert point.throughput_per_s == pytest.approx(4.9, rel=0.01)


def test_dd1_above_saturation_waits_grow_with_the_run():
    short = simulate(fixed(0.2), QueueConfig(arrivals="constant", max_requests=200), 6.0)
    long = simulate(fixed(0.2), QueueConfig(arrivals="constant", max_requests=800), 6.0)
    assert long.max_s > 3 * short.max_s > 0.2
    assert long.throughput_per_s == pytest.approx(5.0, rel=0.01)  # the server, not the offered rate


def test_batching_cuts_waits_at_high_load():
    """Batch b costs 1 + 0.25 (b - 1) s: near batch-1 saturation, batches of up to 4 drain the queue faster."""
    cfg = QueueConfig(max_requests=5000, seed=1)
    alone = simulate(fixed(1.0, 1), cfg, 0.95)
    batched = simulate(fixed(1.0, 4, per_image=0.25), QueueConfig(max_requests=5000, seed=1, max_batch=4), 0.95)
    assert batched.mean_batch > 1.2
    assert batched.p99_s < 0.5 * alone.p99_s
    assert batched.mean_wait_s < 0.5 * alone.mean_wait_s


def test_batching_window_holds_a_lone_request():
    cfg = QueueConfig(arrivals="constant", max_batch=4, batch_window_s=0.3, max_requests=50)
    point = simulate(fixed(0.1, 4), cfg, 0.5)  # one request every 2 s: each waits out the window alone
    assert point.p50_s == pytest.approx(0.4)
    assert point.mean_batch == 1.0
    full = simulate(fixed(0.1, 4), cfg, 100.0)  # four arrive within the window: the batch leaves when full
    assert full.mean_batch > 3.5


def test_closed_loop_keeps_the_concurrency_in_flight():
    """N clients, one replica of S seconds, no batching: each request waits for the N - 1 ahead of it."""
    point = simulate(fixed(0.5), QueueConfig(arrivals="closed", concurrency=3, max_requests=300))
    assert point.completed == 300
    assert point.throughput_per_s == pytest.approx(2.0, rel=0.01)
    assert point.p50_s == pytest.approx(1.5)
    assert point.offered_rate_per_s is None and point.concurrency == 3


def test_two_replicas_serve_twice_the_rate():
    cfg = QueueConfig(arrivals="constant", replicas=2, max_requests=400)
    point = simulate(fixed(1.0), cfg, 1.9)
    assert point.mean_wait_s == 0.0
    assert point.utilisation == pytest.approx(0.95, rel=0.02)


def test_runs_are_seeded_and_bounded():
    cfg = QueueConfig(max_requests=300, seed=11)
    a, b = simulate(fixed(0.5), cfg, 1.5), simulate(fixed(0.5), cfg, 1.5)
    other = simulate(fixed(0.5), QueueConfig(max_requests=300, seed=12), 1.5)
    assert a == b and a != other
    assert a.completed == 300 and a.basis.arrived is None
    horizon = simulate(fixed(0.5), QueueConfig(max_requests=10_000, horizon_s=20.0), 1.0)
    assert 5 < horizon.completed < 40  # arrivals stop at the simulated horizon, and the point says so
    assert horizon.basis.arrived == horizon.completed and horizon.basis.requests == 10_000
    assert f"cut by the 20 s simulated horizon: {horizon.completed} of 10,000 arrived" in horizon.basis.text()


def test_no_horizon_cuts_a_slow_run_by_default():
    """One request every 20 minutes: all 2000 are simulated (a 7-day horizon used to stop it at ~500)."""
    point = simulate(fixed(13.4), QueueConfig(), 0.0008)
    assert point.completed == 2000 and point.basis.arrived is None


def test_bisection_finds_the_dd1_saturation():
    """D/D/1 with S = 0.25 s never waits below 4 req/s, so the max rate at any SLO >= S is the saturation."""
    cfg = QueueConfig(arrivals="constant", max_requests=400)
    result = max_rate_at_slo(fixed(0.25), cfg, 0.3)
    assert saturation_per_s(fixed(0.25), cfg) == pytest.approx(4.0)
    assert result.max_rate_per_s == pytest.approx(4.0)
    assert result.point is not None and result.point.p99_s <= 0.3


def test_the_md1_max_rate_is_exact_and_its_p99_is_the_slo():
    service, slo = fixed(1.0), 4.0
    result = max_rate_at_slo(service, QueueConfig(seed=2), slo)
    assert result.point is not None and result.point.basis.method == "M/D/1" and result.rate_sampling is None
    assert result.max_rate_per_s is not None and 0.3 < result.max_rate_per_s < 1.0
    assert result.point.p99_s <= slo and result.point.p99_s == pytest.approx(slo, rel=1e-8)
    assert exact.md1_latency_quantile(0.99, result.max_rate_per_s * 1.001, 1.0) > slo  # the highest such rate


def test_an_slo_shorter_than_one_call_is_never_met():
    result = max_rate_at_slo(fixed(2.0), QueueConfig(), 1.5)
    assert result.max_rate_per_s is None
    assert result.reason is not None and "2 s" in result.reason and "1.5 s" in result.reason
    assert replicas_for_rate(fixed(2.0), QueueConfig(), 1.5, 0.1) == (None, None)


def test_replicas_for_a_rate_is_the_fewest_that_meet_the_slo():
    service, cfg, slo, rate = fixed(1.0), QueueConfig(seed=4), 2.0, 5.0
    replicas, point = replicas_for_rate(service, cfg, slo, rate)
    assert replicas is not None and replicas >= 6  # 5 req/s of 1 s calls keeps 5 busy; the tail needs more
    assert point is not None and point.p99_s <= slo and point.basis.p99_rel_halfwidth is not None
    fewer = load_point(service, QueueConfig(seed=4, replicas=replicas - 1), rate)
    assert fewer.p99_s > slo


def test_fill_batches_fits_the_missing_sizes_and_says_so():
    known = {1: BatchTime(1, 1.0, "projected", 0.8, 1.5), 4: BatchTime(4, 2.5, "projected", 2.0, 3.9)}
    service = fill_batches(known, 6)
    assert service.seconds(2) == pytest.approx(1.5) and service.seconds(6) == pytest.approx(3.5)
    assert service.times[3].source == "fitted" and service.times[4].source == "projected"
    assert service.with_bound("high").seconds(2) == pytest.approx(1.5 + 0.8)  # (1, 1.5)-(4, 3.9): slope 0.8
    assert "2, 3, 5, 6" in service.fit_note and "fitted on batch 1, 4" in service.fit_note
    single = fill_batches({1: BatchTime(1, 0.7, "measured")}, 3)
    assert single.seconds(3) == pytest.approx(2.1) and "no batching gain" in single.fit_note
    assert math.isclose(single.capacity_per_s(), 1 / 0.7)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="rate"):
        simulate(fixed(1.0), QueueConfig(), 0.0)
    with pytest.raises(ValueError, match="replicas"):
        QueueConfig(replicas=0)
    with pytest.raises(ValueError, match=r"1\.\.B"):
        ServiceTimes({2: BatchTime(2, 1.0, "measured")})
    with pytest.raises(ValueError, match="slo"):
        max_rate_at_slo(fixed(1.0), QueueConfig(), math.nan)


@pytest.mark.parametrize("arrivals", ["poisson", "constant"])
@pytest.mark.parametrize(
    ("replicas", "max_batch", "idle_start_s", "drawn"),
    [
        (1, 1, 0.0, True),  # vectorised Lindley
        (1, 1, 0.05, True),  # the batch loop (an idle start depends on the queue)
        (3, 1, 0.0, False),  # vectorised, one Lindley recursion per replica (fixed calls)
        (3, 1, 0.0, True),  # the batch loop with a heap of replicas
        (1, 4, 0.05, True),  # batching without a window
        (2, 3, 0.0, False),
    ],
)
def test_every_fast_path_gives_the_event_loops_numbers(arrivals, replicas, max_batch, idle_start_s, drawn):
    samples = tuple(np.random.default_rng(9).gamma(4.0, 0.25, 500))
    per_call = {b: BatchTime(b, 0.6 + 0.4 * b, "measured", samples=samples if drawn else ()) for b in range(1, 5)}
    service = ServiceTimes(per_call)
    cfg = QueueConfig(
        arrivals=arrivals, max_requests=3000, seed=8, idle_start_s=idle_start_s, replicas=replicas, max_batch=max_batch
    )
    for load in (0.3, 0.9, 1.2):
        rate = load * saturation_per_s(service, cfg)
        fast, loop = simulate(service, cfg, rate), simulate_events(service, cfg, rate)
        assert fast.p99_s == pytest.approx(loop.p99_s, rel=1e-9) and fast.p50_s == pytest.approx(loop.p50_s, rel=1e-9)
        assert fast.mean_wait_s == pytest.approx(loop.mean_wait_s, rel=1e-9, abs=1e-9)
        assert fast.utilisation == pytest.approx(loop.utilisation, rel=1e-9)
        assert fast.mean_batch == pytest.approx(loop.mean_batch, rel=1e-12)


def test_a_replayed_trace_is_the_queue_those_arrivals_make():
    """Three requests at 0, 0.1 and 5 s on a 1 s server: the second waits 0.9 s, the third not at all."""
    point = replay(fixed(1.0), QueueConfig(), [0.0, 0.1, 5.0])
    assert point.completed == 3
    assert point.max_s == pytest.approx(1.9) and point.mean_wait_s == pytest.approx(0.3)
    batched = replay(fixed(1.0, 2, per_image=0.5), QueueConfig(max_batch=2), [0.0, 0.1, 0.2, 5.0])
    assert batched.max_s == pytest.approx(1.0 + 1.5 - 0.1)  # the second and third share the second call
    with pytest.raises(ValueError, match="ascending"):
        replay(fixed(1.0), QueueConfig(), [1.0, 0.5])


def test_an_idle_start_is_paid_by_requests_that_find_the_server_idle():
    """Requests 10 s apart on a 1 s server all find it idle; back to back, only the first does."""
    cfg = QueueConfig(idle_start_s=0.2)
    apart = replay(fixed(1.0), cfg, [0.0, 10.0, 20.0])
    assert apart.p50_s == pytest.approx(1.2) and apart.utilisation == pytest.approx(3.6 / 21.2)
    close = replay(fixed(1.0), cfg, [0.0, 0.1, 0.2])
    assert close.max_s == pytest.approx(3.2 - 0.2)  # the third starts at 2.2, done at 3.2

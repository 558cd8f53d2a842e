"""The OpenAI-style endpoint, started for real on a tiny CPU pipeline and driven by the real load generator.

One server (max batch 1) serves the whole module: open-loop points at two rates, closed-loop points at two
concurrencies, and the SLO search against a queue whose answer can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.results.serving import ServeRecord, SloRecord, read_serve_results
from bench.serve.process import ServerProcess
from bench.serve.runner import ServePlan, run_serve
from bench.stats import percentile
from tests.serve.checks import check_point
from tests.serve.conftest import drive, running_server, serve_spec


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server("openai", tmp_path_factory.mktemp("openai")) as srv:
        yield srv


def test_open_loop_at_two_rates(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "r.serve.jsonl"
    serve = drive(server, "openai", arrivals="poisson", rates=[4.0, 2.0], max_requests=5)
    outcome = run_serve([ServePlan(serve_spec(), serve)], out)
    assert [p.offered_rate_per_s for p in outcome.points] == [2.0, 4.0]  # lowest first
    for point in outcome.points:
        check_point(point)
        assert point.completed == 5 and point.mean_batch == 1
        assert point.seed != 0 and point.arrivals == "poisson"
    assert read_serve_results(out) == outcome.points  # every point on disk as it was returned
    assert outcome.slos == []  # no SLO, no search


def test_closed_loop_at_two_concurrencies(server: ServerProcess, tmp_path: Path) -> None:
    serve = drive(server, "openai", arrivals="closed", concurrency=[1, 2], max_requests=4)
    one, two = run_serve([ServePlan(serve_spec(), serve)], tmp_path / "r.serve.jsonl").points
    for point in (one, two):
        check_point(point)
        assert point.offered_rate_per_s is None and point.completed == 4
    assert (one.concurrency, two.concurrency) == (1, 2)
    # one client at a time never waits behind another request; two clients on one worker must
    assert one.queue_wait is not None and two.queue_wait is not None
    assert one.queue_wait.p50_s < 0.5 * percentile(one.service_s, 50)
    assert two.queue_wait.mean_s > one.queue_wait.mean_s


def test_slo_search_finds_the_hand_computed_rate(server: ServerProcess, tmp_path: Path) -> None:
    """Constant arrivals at one worker with service S (a D/D/1 queue, ``n`` requests): below 1/S nobody waits
    (p99 ~ S); above it request k waits k (S - 1/r), so p99 ~ S + (n - 1)(S - 1/r), which crosses an SLO of
    2.5 S at r* = 1 / (S (1 - 1.5 / (n - 1))). The search must bracket r*, starting from 0.5/S and 6/S: at 6/S
    the p99 is ~4.8 S, so the point misses even if the machine gets twice as fast after the calibration.

    The calibration only places the search; r* is computed from S as the search itself measured it (its
    lightest point, where nobody waits), over the spread of that point's latencies: a machine that changed
    speed between the calibration and the search moves both alike."""
    calib = drive(server, "openai", arrivals="closed", concurrency=[1], max_requests=4)
    (base,) = run_serve([ServePlan(serve_spec(), calib)], tmp_path / "calib.serve.jsonl").points
    s = percentile(base.latency_s, 50)  # the no-load latency: service plus the client's own overhead
    n = 8
    serve = drive(
        server,
        "openai",
        arrivals="constant",
        rates=[round(0.5 / s, 4), round(6 / s, 4)],
        max_requests=n,
        slo_p99_s=2.5 * s,
        bisect_steps=3,
    )
    out = tmp_path / "slo.serve.jsonl"
    outcome = run_serve([ServePlan(serve_spec(), serve)], out)
    (slo,) = outcome.slos
    sweep = [p for p in outcome.points if p.phase == "sweep"]
    assert [p.slo_ok for p in sweep] == [True, False]
    assert 1 <= len(outcome.points) - 2 <= 3  # bounded: at most bisect_steps probes
    low, high = slo.max_rate_at_slo_per_s, slo.highest_failing_rate_per_s
    assert low is not None and high is not None and low < high
    unloaded = sweep[0].latency_s  # S as measured during the search
    r_fast, r_slow = (1 / (v * (1 - 1.5 / (n - 1))) for v in (min(unloaded), max(unloaded)))
    assert low / 1.6 <= r_fast and r_slow <= high * 1.6, (low, (r_slow, r_fast), high, s)
    assert slo.usd_per_image_at_slo is None and slo.gpu is None  # a CPU has no rental price
    records = read_serve_results(out)
    assert isinstance(records[-1], SloRecord) and all(isinstance(r, ServeRecord) for r in records[:-1])

"""What a measured load point may claim: a p99 only from 100 completed requests, an SLO verdict only where the
requests can carry one, offered rates never above the measured capacity, the max rate as a bracket, and the
achieved rate explained where it differs from the offered one. Hand-worked values, a stub session for the search,
and a stub endpoint on 127.0.0.1 (each request served one at a time) for the whole path."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from bench.results.serving import MIN_P99_REQUESTS, LatencyStats, ServeRecord, SloRecord, max_rate_text
from bench.scenario.serve import ServeSpec
from bench.serve.clients import Outcome
from bench.serve.load import LoadResult
from bench.serve.records import PointMeta, load_point_record
from bench.serve.runner import ServePlan, run_serve
from bench.serve.slo_search import capped, search, slo_record
from bench.serve.verdicts import binomial_tail, capacity_per_s, rate_note, slo_verdict
from tests.serve.conftest import serve_spec
from tests.serve.stubs import StubState, stub


def test_a_p99_needs_100_values_and_p50_p90_stay():
    short = LatencyStats.from_values([float(i) for i in range(1, MIN_P99_REQUESTS)])
    assert short is not None and short.p99_s is None and short.p50_s == 50.0 and short.p90_s == pytest.approx(89.2)
    full = LatencyStats.from_values([float(i) for i in range(1, MIN_P99_REQUESTS + 1)])
    assert full is not None and full.p99_s == pytest.approx(99.01)


def test_slo_verdicts_by_hand():
    assert binomial_tail(6, 1, 0.01) == pytest.approx(1 - 0.99**6)
    assert binomial_tail(6, 2, 0.01) == pytest.approx(1 - 0.99**6 - 6 * 0.01 * 0.99**5)
    fast, slow = [1.0] * 6, [1.0] * 4 + [9.0] * 2
    assert slo_verdict(fast, 5.0, 0, 0)[0] is None  # 6 requests under the SLO cannot show a p99 under it
    assert slo_verdict([1.0] * 5 + [9.0], 5.0, 0, 0)[0] is None  # one in six over: chance 5.9% if the SLO held
    missed, note = slo_verdict(slow, 5.0, 0, 0)  # two in six: 0.15% if it held
    assert missed is False and "2 of 6 requests over 5 s" in note
    assert slo_verdict(fast, 5.0, 1, 0)[0] is False  # an SLO holds for every request
    assert slo_verdict([1.0] * 99 + [9.0], 5.0, 0, 0) == (True, "p99 1.08 s from 100 requests within 5 s")
    assert slo_verdict([1.0] * 98 + [9.0] * 2, 5.0, 0, 0)[0] is False  # p99 = 9 s


def test_capacity_and_the_cap():
    assert capacity_per_s([(1, 5.0), (1, 0.5), (1, 0.25)], 1) == pytest.approx(1 / 0.375)  # cold first dropped
    assert capacity_per_s([(1, 0.5), (1, 0.5), (2, 0.8), (2, 1.2)], 4) == pytest.approx(4.0)  # largest batch seen
    assert capacity_per_s([], 1) is None
    assert capped(1.0, 2.0) == (1.0, None) and capped(3.0, None) == (3.0, None)
    rate, why = capped(3.0, 2.9376)
    assert rate == 2.93 and why is not None and "asked 3 req/s" in why and "offered 2.93 req/s" in why


def test_the_max_rate_is_a_bracket_or_one_side_of_it():
    spec, serve = serve_spec(), ServeSpec(server="openai", rates=[1.0], slo_p99_s=5.0)

    def text(results: dict[float, bool], unfinished: str | None = None) -> str:
        return max_rate_text(slo_record(spec, serve, results, {}, None, "ok", unfinished))

    assert text({1.0: True, 2.0: True, 4.0: False}) == "between 2 req/s (met) and 4 req/s (missed)"
    assert text({1.0: True, 2.0: True}) == "at least 2 req/s (no rate tried above it missed)"
    assert text({1.0: False}) == "below 1 req/s (the lowest rate judged missed)"
    empty = slo_record(spec, serve, {}, {}, None, "ok", None)
    assert empty.search_complete is False and empty.max_rate_at_slo_per_s is None
    assert max_rate_text(empty).startswith("not judged: no load point completed the 100 requests")


def test_achieved_against_offered_is_explained():
    sends = [0.0, 0.2, 0.5, 1.0, 1.5, 4.0]  # six Poisson arrivals offered at 0.5 req/s came at 1.25 req/s
    note = rate_note(
        offered=0.5, achieved=6 / 4.3, arrivals="poisson", sends=sends, window=(0.0, 4.3), sent=6, completed=6,
        max_requests=6, capacity=3.0,
    )  # fmt: skip
    assert note is not None and note.startswith("achieved 1.4 req/s, offered 0.5:")
    assert "the 6 poisson arrivals came at 1.25 req/s (a short sample of the mean: ±45% is usual)" in note
    assert "6 sends make 5 gaps" in note
    close = rate_note(
        offered=1.0, achieved=1.05, arrivals="constant", sends=[float(i) for i in range(200)], window=(0.0, 199.0),
        sent=200, completed=200, max_requests=200, capacity=None,
    )  # fmt: skip
    assert close is None


class _FakeSession:
    """A server whose p99 meets a 1 s SLO up to ``holds`` req/s and whose measured capacity is ``capacity``."""

    def __init__(self, holds: float, capacity: float) -> None:
        self.holds, self.cap = holds, capacity
        self.guard = SimpleNamespace(stopping=False, stop_signal=None)
        self.gone = None
        self.env: dict[str, object] = {}
        self.lines: list[str] = []
        self.offered: list[tuple[float | None, float | None]] = []

    def say(self, line: str) -> None:
        self.lines.append(line)

    def capacity(self) -> float | None:
        return self.cap

    def point(self, meta: PointMeta, warnings: list[str] | None = None) -> ServeRecord:
        rate = meta.offered_rate_per_s or 0.0
        self.offered.append((meta.asked_rate_per_s, rate))
        latency = 0.5 if rate <= self.holds else 3.0
        outcomes = [Outcome(i / rate, i / rate + latency, "ok") for i in range(MIN_P99_REQUESTS)]
        result = LoadResult(outcomes, sent=len(outcomes), started_s=0.0, finished_s=outcomes[-1].done_s)
        return load_point_record(meta, result, None, self.env, warnings or [])


def test_the_search_brackets_the_rate_and_never_offers_more_than_capacity():
    spec, serve = serve_spec(), ServeSpec(server="openai", rates=[2.0], slo_p99_s=1.0, bisect_steps=8)
    session = _FakeSession(holds=6.2, capacity=50.0)
    results = {2.0: True}
    probes, status, unfinished = search(spec, serve, session, results, {2.0})
    assert (status, unfinished) == ("ok", None)
    assert [r.offered_rate_per_s for r in probes][:3] == [4.0, 8.0, 6.0]
    record = slo_record(spec, serve, results, {}, None, status, unfinished)
    low, high = record.max_rate_at_slo_per_s, record.highest_failing_rate_per_s
    assert low is not None and high is not None and low <= 6.2 < high and (high - low) / high <= 0.1

    session = _FakeSession(holds=100.0, capacity=10.0)  # holds the SLO at any rate it can take
    results = {8.0: True}
    probes, status, unfinished = search(spec, serve, session, results, {8.0})
    assert [(r.asked_rate_per_s, r.offered_rate_per_s) for r in probes] == [(16.0, 10.0)]
    assert probes[0].warnings and "above the server's measured capacity 10 req/s" in probes[0].warnings[0]
    record = slo_record(spec, serve, results, {}, None, status, unfinished)
    assert max_rate_text(record) == "at least 10 req/s (no rate tried above it missed)"


def test_a_short_probe_stops_the_search_unjudged():
    spec, serve = serve_spec(), ServeSpec(server="openai", rates=[2.0], slo_p99_s=1.0, max_requests=10)

    class Short(_FakeSession):
        def point(self, meta: PointMeta, warnings: list[str] | None = None) -> ServeRecord:
            outcomes = [Outcome(float(i), i + 0.5, "ok") for i in range(10)]
            return load_point_record(meta, LoadResult(outcomes, 10, 0.0, 9.5), None, {}, [])

    results = {2.0: True}
    probes, status, unfinished = search(spec, serve, Short(10.0, 50.0), results, {2.0})
    assert len(probes) == 1 and probes[0].slo_ok is None and status == "ok"
    assert unfinished is not None and "could not be judged" in unfinished and "a p99 needs at least 100" in unfinished


def test_a_run_against_a_one_worker_endpoint_caps_its_rates_and_judges_from_100_requests(tmp_path):
    """The whole path: the endpoint serves one request at a time for 10 ms and reports kbench's timing, so its
    capacity is measured at warmup. A rate far above it is offered at the capacity instead (the record says what
    was asked), each point of 100 requests has a p99, and the search ends with the max rate as "at least" the
    capacity: nothing the endpoint can take misses a 5 s SLO (100 requests queued behind 10 ms each: 1 s)."""
    with stub(StubState(service_s=0.01, timing=True)) as root:
        serve = ServeSpec(
            server="url", api="openai", target_url=root, arrivals="constant", rates=[20.0, 1000.0],
            max_requests=MIN_P99_REQUESTS, duration_s=60, request_timeout_s=30, warmup=3, slo_p99_s=5.0,
            bisect_steps=2,
        )  # fmt: skip
        outcome = run_serve([ServePlan(serve_spec(), serve)], tmp_path / "r.serve.jsonl")
    first, capped_point, *probes = outcome.points
    for point in outcome.points:
        assert point.status == "ok" and point.completed == MIN_P99_REQUESTS, point.request_errors
        assert point.latency is not None and point.latency.p99_s is not None and point.slo_ok is True
        assert point.capacity_per_s is not None and (point.offered_rate_per_s or 0) <= point.capacity_per_s
    assert first.offered_rate_per_s == 20.0 and first.asked_rate_per_s is None
    assert capped_point.asked_rate_per_s == 1000.0
    assert "above the server's measured capacity" in capped_point.warnings[-1]
    assert all(p.phase == "bisection" for p in probes) and len(probes) <= 2
    (slo,) = outcome.slos
    assert isinstance(slo, SloRecord) and slo.highest_failing_rate_per_s is None
    assert slo.max_rate_at_slo_per_s == max(p.offered_rate_per_s or 0 for p in outcome.points)
    assert max_rate_text(slo).startswith("at least") and slo.search_complete
    for point in outcome.points:  # achieved against offered: explained exactly where they differ by over 10%
        offered = point.offered_rate_per_s or math.nan
        assert (abs(point.achieved_rate_per_s - offered) > 0.1 * offered) == (point.rate_note is not None)

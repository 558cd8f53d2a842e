"""The report's serving section: measured load points beside the simulator's prediction from the same server's
calls (and the curve from isolated runs where the report has them), $ per image at the SLO, and ``kbench report``
of serving results alone."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bench.cli import main
from bench.cost.guide_workloads import guide_estimates
from bench.cost.report_numbers import ReportNumbers
from bench.cost.serving import exact
from bench.cost.serving.measured import ISOLATED_SERIES, SERVER_SERIES, server_service
from bench.cost.serving.section import build_serving
from bench.report.bundle import build_report
from bench.report.serving_render import POINT_HEADERS, RATE_HEADERS
from bench.results.serving import LatencyStats, ServeRecord, dump_serve_record

from .conftest import CATALOG, all_records, write_results

OUTSIDE_S = 0.05  # each measured request's time beyond its queue wait and call


def _point(spec, rate: float, waits: list[float]) -> ServeRecord:
    service = [0.31] * len(waits)
    latency = [w + s + OUTSIDE_S for w, s in zip(waits, service, strict=True)]
    return ServeRecord(
        serve_key=f"{spec.run_key}|gradio|poisson|mb1",
        run_key=spec.run_key,
        spec=spec,
        server="gradio",
        arrivals="poisson",
        max_batch=1,
        offered_rate_per_s=rate,
        achieved_rate_per_s=rate,
        seed=0,
        status="ok",
        window_s=len(waits) / rate,
        sent=len(waits),
        completed=len(waits),
        failed=0,
        timed_out=0,
        latency=LatencyStats.from_values(latency),
        queue_wait=LatencyStats.from_values(waits),
        service=LatencyStats.from_values(service),
        mean_batch=1.0,
        images_per_s=rate,
        slo_p99_s=2.0,
        slo_ok=max(latency) <= 2.0,
        latency_s=latency,
        queue_wait_s=waits,
        service_s=service,
        started_at="2026-11-20T10:00:00+00:00",
        finished_at="2026-11-20T10:05:00+00:00",
        kbench_version="0.1.0",
    )


@pytest.fixture(scope="module")
def points() -> list[ServeRecord]:
    """Two measured load points of the tiny CPU run's workload (0.31 s per call, 50 ms outside it)."""
    tiny = next(r for r in all_records() if r.spec.weights == "tiny")
    return [_point(tiny.spec, 0.1, [0.0] * 9 + [0.02]), _point(tiny.spec, 2.5, [0.2, 0.5, 0.9, 1.1, 0.4])]


@pytest.fixture(scope="module")
def served(points: list[ServeRecord]) -> tuple[list, list[ServeRecord], list]:
    """Records, the two measured load points, and the guide estimates (made once)."""
    records = all_records()
    return records, points, guide_estimates(records, CATALOG)


def test_measured_points_sit_beside_the_curves_simulated_from_the_server_and_the_isolated_run(served):
    records, points, estimates = served
    section = build_serving(records, points, estimates)
    assert section is not None and section.slo_p99_s == 2.0  # the SLO the serving records were run at
    (curve,) = [c for c in section.curves if c.measured]
    assert [m.x for m in curve.measured] == [0.1, 2.5]
    assert [label for label, _ in curve.series] == [SERVER_SERIES, ISOLATED_SERIES]
    for _, simulated in curve.series:
        light = dict(simulated)[0.1]  # at 3% utilisation the median request does not wait
        assert light.p50_s == pytest.approx(0.31 + OUTSIDE_S, rel=0.02)
        assert max(x for x, _ in simulated) < 1 / 0.31  # the curve stops short of saturation
    assert curve.note.count("50 ms per request outside the call") == 2
    assert section.costs and all(r.workload for r in section.costs)
    for row in section.costs:
        if row.max_rate_per_s is not None and row.usd_per_1k_at_slo is not None:
            gpu = next(g for g in CATALOG.gpus.values() if g.name == row.gpu_name)
            price = gpu.cheapest_price().usd_per_hour  # type: ignore[union-attr]
            assert row.usd_per_1k_at_slo == pytest.approx(1000 * price / (3600 * row.max_rate_per_s))


def test_the_report_shows_the_section_only_with_serving_records_or_an_slo(served):
    records, points, estimates = served
    served_numbers = ReportNumbers(tuple(estimates), build_serving(records, points, estimates))
    bundle = build_report(records, CATALOG, served_numbers)
    assert 'id="serving"' in bundle.html and 'id="serving-slo-cost"' in bundle.html
    assert 'id="fig-serve-latency-' in bundle.html and 'id="fig-serve-throughput-' in bundle.html
    assert "### Serving under load" in bundle.markdown
    plain = build_report(records, CATALOG, ReportNumbers(tuple(estimates), build_serving(records, [], estimates)))
    assert 'id="serving"' not in plain.html and "Serving under load" not in plain.markdown


def test_kbench_report_takes_a_serving_results_file(served, tmp_path: Path, capsys):
    records, points, _ = served
    results = write_results(tmp_path / "r.jsonl", records)
    serve = tmp_path / "r.serve.jsonl"
    serve.write_text("".join(dump_serve_record(p) + "\n" for p in points), encoding="utf-8")
    out = tmp_path / "rep" / "r"
    assert main(["report", str(results), "--serve", str(serve), "-o", str(out)]) == 0
    assert 'id="serving"' in (tmp_path / "rep" / "r.html").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["report", str(results), "--slo-p99", "0", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--slo-p99: must be seconds > 0" in err


def test_the_prediction_comes_from_the_servers_own_calls_without_isolated_runs(points):
    """No isolated run: the simulator is given the server's calls (0.31 s each, so fixed calls: M/D/1, solved
    exactly) and the 50 ms outside them. The prediction at each measured rate and the max rate at the SLO are
    then the exact M/D/1 answers, and the measured side keeps what it could not judge."""
    section = build_serving((), points, ())
    assert section is not None and not section.costs  # nothing projected without isolated runs
    (server,) = section.servers
    assert "batch 1: 15 calls, mean 0.31 s" in server.service_note
    light, loaded = server.points
    assert light.simulated is not None and loaded.simulated is not None
    assert light.simulated.p50_s == pytest.approx(0.31 + OUTSIDE_S)
    assert loaded.simulated.p99_s == pytest.approx(exact.md1_latency_quantile(0.99, 2.5, 0.31, OUTSIDE_S))
    assert loaded.note.startswith("exact M/D/1")
    assert loaded.measured.latency is not None and loaded.measured.latency.p99_s is None  # 5 requests: no p99
    sim = server.simulated_slo
    assert sim is not None and sim.point is not None and sim.max_rate_per_s is not None
    assert sim.max_rate_per_s == pytest.approx(exact.md1_max_rate(2.0, 0.99, 0.31, OUTSIDE_S), rel=1e-6)
    assert sim.point.p99_s <= 2.0
    assert server.measured_slo is None  # no SloRecord in these records: the table says no search was run


def test_kbench_report_of_serving_results_alone(points, tmp_path: Path, capsys):
    """``kbench report --serve FILE`` without an isolated results file, and the same file given as RESULTS (its
    records say what it is): the serving page, every figure labelled measured or simulated, what cannot be
    judged said; options that only project isolated runs are one line and exit 2."""
    serve = tmp_path / "r.serve.jsonl"
    serve.write_text("".join(dump_serve_record(p) + "\n" for p in points), encoding="utf-8")
    out = tmp_path / "rep" / "r"
    assert main(["report", "--serve", str(serve), "--out", str(out)]) == 0
    html = (tmp_path / "rep" / "r.html").read_text(encoding="utf-8")
    assert 'id="serving-points-0"' in html and 'id="serving-max-rate"' in html and "<svg" in html
    head = html.split('id="serving-points-0"', 1)[1].split("</thead>", 1)[0]
    assert [h.split("</th>")[0] for h in head.split("<th>")[1:]] == list(POINT_HEADERS)
    assert "p50 s (measured)" in POINT_HEADERS and "p50 s (simulated)" in POINT_HEADERS
    assert "n&lt;100: not estimable" in html and "exact M/D/1" in html
    assert "max requests/s at SLO (measured)" in RATE_HEADERS and "Summary" not in html  # no isolated tables
    rows = list(csv.DictReader(io.StringIO((tmp_path / "rep" / "r.csv").read_text(encoding="utf-8"))))
    assert [float(r["offered_rate_per_s"]) for r in rows] == [0.1, 2.5]
    assert rows[1]["measured_p99_s"] == "" and float(rows[1]["simulated_p99_s"]) > float(rows[1]["measured_p90_s"])
    assert "### Serving under load" in (tmp_path / "rep" / "r.md").read_text(encoding="utf-8")
    capsys.readouterr()
    again = tmp_path / "again"
    assert main(["report", str(serve), "--output", str(again)]) == 0  # the former name of --out still works
    assert (tmp_path / "again.html").read_text(encoding="utf-8").count('id="serving-points-') == 1
    capsys.readouterr()
    for args, message in [
        (["report", "--serve", str(serve), "--gpu", "rtx4090", "-o", str(tmp_path / "x")], "--gpu: applies to"),
        (["report"], "no results file given; pass RESULTS files, or serving results with --serve FILE"),
    ]:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_a_batching_servers_calls_are_told_apart_by_their_batch_size(points):
    """A server at max batch 2: each call's batch size (``service_batch``, serving results version 4) gives the
    simulator its per-batch service time; a file from before version 4 cannot tell them apart and says so."""
    sizes = [1, 2, 2, 1, 2, 2, 2, 2, 1, 1]
    calls = [0.31 if b == 1 else 0.5 + 0.01 * (i % 2) for i, b in enumerate(sizes)]
    batching = points[0].model_copy(update={"max_batch": 2, "service_batch": sizes, "service_s": calls})
    service, note = server_service([batching])
    assert service is not None and note == "batch 1: 4 calls, mean 0.31 s, batch 2: 6 calls, mean 0.505 s"
    assert service.seconds(1) == pytest.approx(0.31) and not service.has_samples(1)  # one time: fixed calls
    assert service.seconds(2) == pytest.approx(0.505) and service.has_samples(2)  # drawn as measured
    assert service.capacity_per_s() == pytest.approx(2 / 0.505)
    older = batching.model_copy(update={"service_batch": []})
    assert server_service([older]) == (None, "the calls' batch sizes are not in these records (serving results "
                                               "before version 4)")  # fmt: skip
    assert server_service([points[0]])[0] is not None  # max batch 1 needs no sizes: every call was batch 1

"""The report's serving section: measured load points beside the simulated curve, and $ per image at the SLO."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.cost.guide_workloads import guide_estimates
from bench.cost.report_numbers import ReportNumbers
from bench.cost.serving.section import build_serving
from bench.report.bundle import build_report
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
def served() -> tuple[list, list[ServeRecord], list]:
    """Records, two measured load points of the tiny CPU run's workload, and the guide estimates (made once)."""
    records = all_records()
    tiny = next(r for r in records if r.spec.weights == "tiny")  # the tiny CPU run (0.31 s per call)
    points = [_point(tiny.spec, 0.1, [0.0] * 9 + [0.02]), _point(tiny.spec, 2.5, [0.2, 0.5, 0.9, 1.1, 0.4])]
    return records, points, guide_estimates(records, CATALOG)


def test_measured_points_sit_beside_the_curve_simulated_from_the_isolated_run(served):
    records, points, estimates = served
    section = build_serving(records, points, estimates)
    assert section is not None and section.slo_p99_s == 2.0  # the SLO the serving records were run at
    (curve,) = [c for c in section.curves if c.measured]
    assert [m.x for m in curve.measured] == [0.1, 2.5]
    ((label, simulated),) = curve.series
    assert label == "simulated"
    light = dict(simulated)[0.1]  # at 3% utilisation the median request does not wait
    assert light.p50_s == pytest.approx(0.31 + OUTSIDE_S)
    assert "50 ms per request outside the pipeline call" in curve.note
    top = max(x for x, _ in simulated)
    assert top < 1 / 0.31  # the curve stops short of the isolated run's saturation
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

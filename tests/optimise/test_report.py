"""The ranking per model and device, its markdown and figure, the report hook and the CLI view."""

from __future__ import annotations

import math

from bench.cost.catalog import load_catalog
from bench.cost.report_numbers import ReportNumbers
from bench.optimise.ranking import pareto_cells, rank
from bench.report.bundle import build_report
from bench.report.optimise_figure import pareto_figure
from bench.report.optimise_table import NOISE_NOTE, render_optimise_markdown
from tests.conftest import run_kbench


def _rows(sweep, **kw):
    return rank(list(sweep.records.values()), load_catalog(), **kw)


def test_ranking_orders_cells_fastest_first_and_lists_skips_last(sweep):
    rows = _rows(sweep)
    assert {r.group for r in rows} == {"flux.1-schnell on cpu"}
    measured = [r for r in rows if r.s_per_image is not None]
    assert [r.s_per_image for r in measured] == sorted(r.s_per_image for r in measured)
    assert rows[-1].s_per_image is None and rows[-1].reason
    baseline = next(r for r in rows if r.setting == "baseline")
    assert baseline.psnr_db == math.inf and baseline.speedup == 1.0
    assert all(r.peak_memory_mb and r.memory_kind == "RSS" for r in measured)
    assert any(r.pareto for r in measured)
    assert all(r.usd_per_1k is None for r in measured)  # a CPU run has no GPU price


def test_priced_at_a_gpu_the_session_figure_includes_start_up(sweep):
    rows = [r for r in _rows(sweep, gpu_id="rtx4090", session_images=10) if r.s_per_image is not None]
    assert all(r.usd_per_1k_session > r.usd_per_1k for r in rows)  # load (+ compile) paid over 10 images


def test_threshold_flags_changed_cells(sweep):
    rows = {r.setting: r for r in _rows(sweep, threshold_db=1000.0)}
    assert rows["first_block@0.9"].flagged and rows["int8-weight-only"].flagged
    assert not rows["sdpa-math"].flagged  # identical images: infinite PSNR
    assert not rows["baseline"].flagged


def test_pareto_front_by_hand():
    # (s/image, PSNR): the second is slower and worse than the first; the third trades speed for quality
    assert pareto_cells([(1.0, 40.0), (2.0, 30.0), (0.5, 20.0), (1.0, math.inf)]) == {2, 3}


def test_markdown_and_figure(sweep):
    rows = _rows(sweep, threshold_db=1000.0)
    text = render_optimise_markdown(rows)
    assert "### Optimisation ranking" in text and NOISE_NOTE.split(",")[0] in text
    assert "QUALITY CHANGED" in text and "sdpa-efficient" in text and "skipped" in text
    figure = pareto_figure(rows)
    assert figure.svg.startswith("<svg") and "first_block@0.9" in figure.svg


def test_the_report_carries_the_ranking(sweep):
    records = list(sweep.records.values())
    bundle = build_report(records, load_catalog(), ReportNumbers(()))  # no guide projection: only the hook is tested
    assert "### Optimisation ranking" in bundle.markdown
    assert 'aria-label="optimise-pareto"' in bundle.html


def test_cli_prints_the_ranking(sweep, tmp_path):
    figure = tmp_path / "pareto.svg"
    proc = run_kbench("optimise-report", str(sweep.results), "--psnr-threshold", "1000", "--figure", str(figure))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "flux.1-schnell on cpu" in out and "baseline" in out and "first_block@0.9" in out
    assert max(len(line) for line in out.splitlines()) <= 120
    assert figure.read_text(encoding="utf-8").startswith("<svg")
    markdown = run_kbench("optimise-report", str(sweep.results), "--psnr-threshold", "1000", "--markdown")
    assert markdown.returncode == 0 and "| first_block@0.9 |" in markdown.stdout
    assert "QUALITY CHANGED" in markdown.stdout
    bad = run_kbench("optimise-report", str(tmp_path / "missing.jsonl"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1

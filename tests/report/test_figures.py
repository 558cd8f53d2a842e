"""Figures render to inline SVG: text stays text, ids are unique per figure, output is deterministic."""

from __future__ import annotations

import re

from matplotlib.figure import Figure

from bench.report.figures import (
    cost_by_gpu,
    cost_vs_latency,
    latency_vs_resolution,
    memory_timeline,
    pick_timeline_record,
    stage_breakdown,
    to_svg,
)
from bench.report.points import CostPoint
from bench.report.rows import summary_rows
from tests.report.conftest import CATALOG, all_records


def test_to_svg_strips_prolog_prefixes_ids_and_keeps_text():
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], marker="o")
    ax.set_title("kandinsky-3 <1024>")
    svg = to_svg(fig, "demo")
    assert svg.startswith("<svg ")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids and all(i.startswith("demo-") for i in ids)
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', svg)
    assert refs and all(r in ids for r in refs)  # every reference still resolves
    assert "kandinsky-3 &lt;1024&gt;" in svg  # svg.fonttype none: the title is text, XML-escaped by matplotlib
    assert "<dc:date>" not in svg


def test_figures_are_deterministic():
    rows = summary_rows(all_records(), CATALOG)
    assert latency_vs_resolution(rows).svg == latency_vs_resolution(rows).svg


def test_latency_figure_has_one_line_per_model():
    fig = latency_vs_resolution(summary_rows(all_records(), CATALOG))
    assert fig.svg and not fig.missing
    # Two GPU models plus the CPU kandinsky-2.2 configuration: kandinsky-2.2 has two configs, so each is labelled
    # by the settings that tell them apart (and only those).
    assert "kandinsky-3" in fig.svg
    assert "kandinsky-2.2 (50 steps, fp16, cuda)" in fig.svg and "kandinsky-2.2 (4 steps, fp32, cpu)" in fig.svg


def test_runs_that_differ_only_in_language_get_a_line_and_a_bar_each():
    """The default scenario runs kandinsky-2.2 in four languages at one size: four points, four bar labels."""
    base = all_records()[0]
    runs = [
        base.model_copy(update={"spec": base.spec.model_copy(update={"language": lang})}, deep=True)
        for lang in ("en", "ru", "zh", "de")
    ]
    fig = latency_vs_resolution(summary_rows(runs, CATALOG))
    assert all(f"{base.spec.model} ({lang})" in fig.svg for lang in ("en", "ru", "zh", "de"))
    stages = stage_breakdown(runs)
    assert all(f"{base.spec.model} {base.spec.resolution} {lang}" in stages.svg for lang in ("en", "ru", "zh", "de"))


def test_stage_breakdown_and_timeline_draw_from_records():
    records = all_records()
    stages = stage_breakdown(records)
    assert stages.svg and "denoise" in stages.svg and "decode" in stages.svg
    # The highest VRAM peak among ok runs with a timeline is kandinsky-3 at 1024 (21,500 MB).
    picked = pick_timeline_record(records)
    assert picked is not None and picked.spec.model == "kandinsky-3" and picked.spec.width == 1024
    timeline = memory_timeline(records)
    assert "VRAM used" in timeline.caption and "prior" in timeline.svg


def test_timeline_on_cpu_is_labelled_rss():
    cpu_only = [r for r in all_records() if r.spec.device == "cpu"]
    fig = memory_timeline(cpu_only)
    assert "RSS" in fig.caption and "RSS (MB)" in fig.svg


def test_figures_without_data_say_why():
    failed = [r for r in all_records() if r.status != "ok"]
    assert latency_vs_resolution(summary_rows(failed, CATALOG)).missing == "no successful runs"
    assert stage_breakdown(failed).missing
    assert memory_timeline(failed).missing
    assert cost_by_gpu([]).missing and cost_vs_latency([]).missing


def test_cost_figures_tell_measured_from_projected():
    points = [
        CostPoint("k 1024", "k", "rtx4090", "RTX 4090", 2.0, 0.2, "measured"),
        CostPoint("k 1024", "k", "a100", "A100", 1.0, 0.5, "projected"),
        CostPoint("k 1024", "k", "t4", "T4", 8.0, 0.9, "projected"),  # dominated by the RTX 4090
    ]
    bars = cost_by_gpu(points)
    assert "projected (hatched)" in bars.svg and "measured (solid)" in bars.svg
    scatter = cost_vs_latency(points)
    # The Pareto front (RTX 4090 and A100) is annotated; the dominated T4 is not.
    assert "RTX 4090" in scatter.svg and "A100" in scatter.svg and "T4" not in scatter.svg


def _svg_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_only_pareto_points_are_labelled():
    gpus = {  # GPU: (s/image, $/1000 images) for workload "a"; workload "b" is twice as slow and costly
        "H100": (1.0, 0.9),
        "A100": (1.5, 0.6),
        "RTX 4090": (2.0, 0.2),
        "L4": (6.0, 0.3),  # beaten by the RTX 4090 on both
        "T4": (9.0, 0.5),  # beaten by the RTX 4090 on both
        "A10G": (3.0, 0.65),  # beaten by the RTX 4090 on both
    }
    points = [
        CostPoint(w, "k", name.lower(), name, s * f, usd * f, "projected")
        for w, f in (("a", 1.0), ("b", 2.0))
        for name, (s, usd) in gpus.items()
    ]
    fig = cost_vs_latency(points)
    texts = _svg_texts(fig.svg)
    named = [t for t in texts if t in gpus]
    assert sorted(named) == sorted(["H100", "A100", "RTX 4090"] * 2)  # each workload's front, nothing else
    assert "a: H100, A100, RTX 4090" in fig.caption


def test_labels_never_overlap():
    import matplotlib

    from bench.report.figures import SVG_RC, place_labels

    with matplotlib.rc_context(SVG_RC):
        fig = Figure(figsize=(7.2, 3.6), layout="constrained")
        ax = fig.add_subplot()
        items = [(f"GPU number {i}", 1.0 + i * 0.01, 1.0 - i * 0.01) for i in range(12)]  # a tight cluster
        ax.scatter([x for _, x, _ in items], [y for _, _, y in items])
        boxes = place_labels(fig, ax, items)
    placed = [b for b in boxes if b is not None]
    assert placed and len(placed) < len(items)  # some fit, the rest are left off rather than overlap
    assert not any(a.overlaps(b) for i, a in enumerate(placed) for b in placed[i + 1 :])

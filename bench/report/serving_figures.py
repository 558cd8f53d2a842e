"""Serving figures: latency against load (simulated curves, measured points, the SLO line) and throughput.

Drawn under the report's style (:data:`bench.report.figures.SVG_RC`) and returned as :class:`FigureSvg`, so they
sit with the report's other figures.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from bench.cost.serving.section import Curve, ServingSection
from bench.report.figures import FIGSIZE_IN, MODEL_COLOURS, SVG_RC, FigureSvg, plain_log_axis, to_svg

MAX_CURVES = 8
_KEY_RE = re.compile(r"[^a-z0-9]+")


def _key(prefix: str, curve: Curve) -> str:
    return f"{prefix}-{_KEY_RE.sub('-', curve.key.lower()).strip('-')[:60]}"


def latency_vs_load(curve: Curve) -> FigureSvg:
    """p50 (dashed) and p99 (solid) latency against load per series, measured points as markers, the SLO."""
    key = _key("serve-latency", curve)
    caption = f"{curve.title}. Lines: simulated p99 (solid) and p50 (dashed); {curve.note}."
    if curve.measured:
        caption += " Markers: measured p99 (circles) and p50 (crosses) of the real server."
    with matplotlib.rc_context(SVG_RC):
        fig = Figure(figsize=FIGSIZE_IN, layout="constrained")
        ax = fig.add_subplot()
        for i, (label, points) in enumerate(curve.series):
            colour = MODEL_COLOURS[i % len(MODEL_COLOURS)]
            xs = [x for x, _ in points]
            ax.plot(xs, [p.p99_s for _, p in points], "-", color=colour, label=f"{label} p99")
            ax.plot(xs, [p.p50_s for _, p in points], "--", color=colour, label=f"{label} p50")
        if curve.measured:
            xs = [m.x for m in curve.measured]
            ax.plot(xs, [m.p99_s for m in curve.measured], "o", color="#222", label="measured p99")
            ax.plot(xs, [m.p50_s for m in curve.measured], "x", color="#222", label="measured p50")
        if curve.slo_p99_s is not None:
            ax.axhline(curve.slo_p99_s, color="#b42318", linestyle=":", label=f"SLO p99 {curve.slo_p99_s:g} s")
        ax.set_xlabel(curve.x_label)
        ax.set_ylabel("latency (s)")
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
        ax.legend(fontsize=7, loc="upper left")
        return FigureSvg(key, f"Latency vs load: {curve.title}", caption, to_svg(fig, key))


def throughput_vs_load(curve: Curve) -> FigureSvg:
    """Completed requests per second against load: simulated per series, measured as markers."""
    key = _key("serve-throughput", curve)
    caption = f"{curve.title}. Lines: simulated; markers: measured achieved rate. The diagonal is offered = served."
    with matplotlib.rc_context(SVG_RC):
        fig = Figure(figsize=FIGSIZE_IN, layout="constrained")
        ax = fig.add_subplot()
        top = 0.0
        for i, (label, points) in enumerate(curve.series):
            xs = [x for x, _ in points]
            ax.plot(xs, [p.throughput_per_s for _, p in points], "-", color=MODEL_COLOURS[i % 8], label=label)
            top = max([top, *xs])
        if curve.measured:
            xs = [m.x for m in curve.measured]
            ax.plot(xs, [m.achieved_per_s for m in curve.measured], "o", color="#222", label="measured")
            top = max([top, *xs])
        if "rate" in curve.x_label and top > 0:
            ax.plot([0, top], [0, top], ":", color="#999", label="offered")
        ax.set_xlabel(curve.x_label)
        ax.set_ylabel("throughput (requests/s)")
        ax.legend(fontsize=7, loc="upper left")
        return FigureSvg(key, f"Throughput vs load: {curve.title}", caption, to_svg(fig, key))


def serving_figures(section: ServingSection | None) -> list[FigureSvg]:
    """Latency and throughput figures of each curve (at most :data:`MAX_CURVES` curves)."""
    if section is None:
        return []
    out: list[FigureSvg] = []
    for curve in section.curves[:MAX_CURVES]:
        if not curve.series and not curve.measured:
            continue
        out += [latency_vs_load(curve), throughput_vs_load(curve)]
    return out


__all__ = ["latency_vs_load", "serving_figures", "throughput_vs_load"]

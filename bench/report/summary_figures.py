"""Small figures for the PR summary: the change per run with its interval, and the history with its steps.

Built with matplotlib's object API under the report's style (:data:`bench.report.figures.SVG_RC`) and
returned as bytes (PNG, which a PR comment or job summary shows inline once uploaded, or SVG); the CLI writes
them beside the markdown that names them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Literal

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from bench.compare.engine import CompareReport
from bench.history.steps import HistoryReport
from bench.report.figures import MODEL_COLOURS, SVG_RC

ImageFormat = Literal["png", "svg"]
MAX_RUNS = 20  # rows in the change figure
MAX_SERIES = 6  # panels in the history figure
DPI = 110
_VERDICT_COLOUR = {"regression": "#e15759", "improvement": "#59a14f", "inconclusive": "#edc948"}


def _save(fig: Figure, fmt: ImageFormat) -> bytes:
    buf = io.BytesIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
    fig.clear()
    return buf.getvalue()


def _short(key: str, limit: int = 48) -> str:
    return key if len(key) <= limit else key[: limit - 1] + "…"


def change_figure(report: CompareReport, fmt: ImageFormat = "png") -> bytes | None:
    """Median change (current / baseline) per run with its interval and the threshold; None without timings."""
    runs = [r for r in report.runs if r.time is not None][:MAX_RUNS]
    if not runs:
        return None
    with matplotlib.rc_context(SVG_RC):
        fig = Figure(figsize=(6.4, 0.45 * len(runs) + 1.1), layout="constrained")
        ax = fig.add_subplot()
        for i, r in enumerate(runs):
            t = r.time
            if t is None:  # filtered above; narrows the type
                continue
            colour = _VERDICT_COLOUR.get(r.verdict, "#4e79a7")
            lo, hi, mid = (t.ci_low - 1) * 100, (t.ci_high - 1) * 100, (t.ratio - 1) * 100
            ax.plot([lo, hi], [i, i], color=colour, linewidth=3, solid_capstyle="butt")
            ax.plot([mid], [i], marker="o", color="black", markersize=4)
            limit = t.threshold.value * 100 if t.threshold.kind == "percent" else None
            if limit is not None:
                ax.plot([limit, limit], [i - 0.4, i + 0.4], color="#e15759", linestyle="--", linewidth=1)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_yticks(range(len(runs)), [_short(r.run_key) for r in runs], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"median change, % ({report.confidence * 100:g}% interval; dashed: threshold)")
        return _save(fig, fmt)


def history_figure(report: HistoryReport, fmt: ImageFormat = "png", keys: Sequence[str] = ()) -> bytes | None:
    """One panel per series (regressions first): the point medians, segment levels, and step positions."""
    chosen = [s for s in report.series if not keys or s.run_key in keys]
    chosen.sort(key=lambda s: (not s.new_regression, not s.steps, s.run_key))
    chosen = chosen[:MAX_SERIES]
    if not chosen:
        return None
    with matplotlib.rc_context(SVG_RC):
        fig = Figure(figsize=(6.4, 1.9 * len(chosen) + 0.4), layout="constrained")
        axes = fig.subplots(len(chosen), 1, squeeze=False)[:, 0]
        for ax, s, colour in zip(axes, chosen, MODEL_COLOURS * MAX_SERIES, strict=False):
            xs = list(range(len(s.points)))
            ys = [p.median_s * 1e3 for p in s.points]
            ax.plot(xs, ys, marker="o", markersize=3, linestyle="", color=colour)
            for seg in s.segments:
                ax.plot([seg.start - 0.4, seg.end - 0.6], [seg.median_s * 1e3] * 2, color="black", linewidth=1.2)
            for st in s.steps:
                ax.axvline(st.index - 0.5, color="#e15759" if st.change > 0 else "#59a14f", linestyle="--")
            ax.set_title(_short(s.run_key, 80), fontsize=8, loc="left")
            ax.set_ylabel("ms / image")
            labels = [(p.commit or "?")[:7] for p in s.points]
            step = max(1, len(xs) // 12)
            ax.set_xticks(xs[::step], labels[::step], rotation=30, ha="right", fontsize=6)
        return _save(fig, fmt)


__all__ = ["change_figure", "history_figure"]

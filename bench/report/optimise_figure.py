"""The speed-vs-quality figure of an optimisation sweep: s/image against PSNR vs the baseline, front marked.

Identical images have infinite PSNR; they are drawn on a line above the highest finite value, labelled
``identical``. Flagged cells (PSNR below the threshold) are red.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib
from matplotlib.figure import Figure

from bench.cost.catalog import Catalog
from bench.optimise.ranking import RankRow, rank
from bench.report.figures import FIGSIZE_IN, SVG_RC, FigureSvg, place_labels, to_svg
from bench.results import RunRecord

KEY = "optimise-pareto"
TITLE = "Speed vs quality of each setting"
MAX_LABELS = 20


def pareto_figure(rows: Sequence[RankRow], threshold_db: float = 30.0) -> FigureSvg:
    """One figure for the first model/device/workload with measured and compared cells (the largest one)."""
    groups: dict[str, list[RankRow]] = {}
    for r in rows:
        if r.s_per_image is not None and r.psnr_db is not None:
            groups.setdefault(f"{r.group}: {r.workload}", []).append(r)
    caption = (
        "x: seconds per image (lower is faster); y: worst-image PSNR against the baseline cell (higher is closer)."
    )
    if not groups:
        return FigureSvg(KEY, TITLE, caption, "", missing="no cell was both measured and compared with a baseline")
    heading, cells = max(groups.items(), key=lambda kv: len(kv[1]))
    finite = [r.psnr_db for r in cells if r.psnr_db is not None and not math.isinf(r.psnr_db)]
    top = (max(finite) if finite else 60.0) + 10.0
    with matplotlib.rc_context(SVG_RC):
        fig = Figure(figsize=FIGSIZE_IN, layout="constrained")
        ax = fig.add_subplot()
        ys = [top if r.psnr_db is None or math.isinf(r.psnr_db) else r.psnr_db for r in cells]
        xs = [r.s_per_image or 0.0 for r in cells]
        colours = ["#e15759" if r.flagged else "#4e79a7" for r in cells]
        ax.scatter(xs, ys, c=colours, s=28, zorder=3)
        front = sorted((x, y) for x, y, r in zip(xs, ys, cells, strict=True) if r.pareto)
        if len(front) > 1:
            ax.plot([p[0] for p in front], [p[1] for p in front], "--", color="#59a14f", label="Pareto front")
            ax.legend(loc="lower right")
        ax.axhline(top, color="#bab0ac", linewidth=0.8)
        ax.axhline(threshold_db, color="#e15759", linewidth=0.8, linestyle=":")
        ax.set_ylim(min(min(ys), threshold_db) - 5.0, top + 8.0)
        ax.set_xlabel("s/image")
        ax.set_ylabel("PSNR vs baseline (dB)")
        ax.set_title(heading, fontsize=8)
        items = [(r.setting, x, y) for x, y, r in zip(xs, ys, cells, strict=True)][:MAX_LABELS]
        placed = place_labels(fig, ax, items)
        svg = to_svg(fig, KEY)
    left_off = sum(box is None for box in placed) + max(0, len(cells) - MAX_LABELS)
    notes = f" {left_off} label(s) left off where they would overlap." if left_off else ""
    grey = f" Grey line (top): identical images, PSNR infinite. Dotted: {threshold_db:g} dB."
    return FigureSvg(KEY, TITLE, caption + " Red: quality changed." + grey + notes, svg)


def optimise_figures(records: Sequence[RunRecord], catalog: Catalog) -> list[FigureSvg]:
    """The report's optimisation figure, or none when no record has speed settings (the hook of ``build_report``)."""
    if not any(r.spec.optimise.key_part for r in records):
        return []
    return [pareto_figure(rank(records, catalog))]


__all__ = ["optimise_figures", "pareto_figure"]

"""Report figures: matplotlib rendered to inline SVG strings.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), never ``pyplot``: no
global figure registry to leak into, no GUI backend, safe in a CLI or a server. The Agg backend is
selected anyway so nothing else in the process opens a window. Output is deterministic: text stays
text (``svg.fonttype: none``, no embedded glyphs, no web fonts), ids come from a fixed hash salt
and are prefixed per figure so several SVGs can share one HTML document, and no date is written.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from bench.report.axes_text import plain_log_axis, run_facts, series_label, unique_labels
from bench.report.points import CostPoint, pareto_front
from bench.report.rows import SummaryRow
from bench.results import STAGES, RunRecord

SVG_RC: dict[Any, Any] = {  # keys are matplotlib rcParams names
    "svg.fonttype": "none",
    "svg.hashsalt": "kandinsky-bench",
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "text.parse_math": False,  # names come from user files: "$5$ GPU" is text, never mathtext to parse
}
FIGSIZE_IN = (7.2, 3.6)
MAX_SERIES = 10  # lines in the latency figure; more makes the legend unreadable
MAX_BARS = 30  # bars in the stage-breakdown figure
STAGE_COLOURS = {"text_encode": "#4e79a7", "prior": "#f28e2b", "denoise": "#59a14f", "decode": "#b07aa1"}
OTHER_COLOUR = "#bab0ac"
MODEL_COLOURS = ("#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#b07aa1", "#edc948", "#9c755f")
LINESTYLES = ("-", "--", ":", "-.")
SPAN_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2")
_ID_RE = re.compile(r'\bid="([^"]+)"')
P = ParamSpec("P")


@dataclass(frozen=True)
class FigureSvg:
    """One rendered figure, or the reason it could not be drawn (then ``svg`` is empty)."""

    key: str
    title: str
    caption: str
    svg: str
    missing: str = ""


def to_svg(fig: Figure, key: str) -> str:
    """Render ``fig`` as an SVG element for inline use: no XML prolog, ids prefixed with ``key``."""
    buf = io.StringIO()
    with matplotlib.rc_context(SVG_RC):  # svg.* params are read at save time
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    fig.clear()
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    ids = set(_ID_RE.findall(text))
    if ids:
        pattern = re.compile(
            r'(id="|href="#|url\(#)(' + "|".join(re.escape(i) for i in sorted(ids, key=len)[::-1]) + r')(?=["\)])'
        )
        text = pattern.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}", text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{key}" class="figure" ', 1)


def _styled(func: Callable[P, FigureSvg]) -> Callable[P, FigureSvg]:
    """Build the whole figure under the report's rcParams (they are read at artist creation and at save)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> FigureSvg:
        with matplotlib.rc_context(SVG_RC):
            return func(*args, **kwargs)

    return wrapper


def _new_figure(height_in: float = FIGSIZE_IN[1]) -> Figure:
    return Figure(figsize=(FIGSIZE_IN[0], height_in), layout="constrained")


def _axes(fig: Figure) -> Axes:
    return fig.add_subplot()


@_styled
def latency_vs_resolution(rows: Sequence[SummaryRow]) -> FigureSvg:
    """Median seconds per image against image size, one line per model (and per config when a model has several)."""
    title = "Seconds per image vs resolution"
    caption = "Median seconds per image of each successful run; the x axis is image size in megapixels."
    ok = [r for r in rows if r.median_s_per_image is not None]
    if not ok:
        return FigureSvg("latency", title, caption, "", "no successful runs")
    series: dict[tuple[str, ...], dict[int, tuple[str, float]]] = {}
    for r in ok:
        run = (r.model, r.task, str(r.steps), r.batch, r.dtype, r.memory, r.device, r.language)
        series.setdefault(run, {}).setdefault(r.pixels, (r.resolution, r.median_s_per_image or 0.0))
    models = sorted({k[0] for k in series})
    per_model = {m: sum(1 for k in series if k[0] == m) for m in models}
    keys = sorted(series)[:MAX_SERIES]
    fig = _new_figure()
    ax = _axes(fig)
    ticks: dict[float, str] = {}
    drawn: dict[str, int] = {}
    for key in keys:
        points = sorted(series[key].items())
        xs = [px / 1e6 for px, _ in points]
        ys = [v for _, (_, v) in points]
        ticks.update({px / 1e6: res for px, (res, _) in points})
        label = key[0] if per_model[key[0]] == 1 else series_label(key, [k for k in keys if k[0] == key[0]])
        colour = MODEL_COLOURS[models.index(key[0]) % len(MODEL_COLOURS)]
        nth = drawn.get(key[0], 0)  # a model's further configurations keep its colour, change the dash
        drawn[key[0]] = nth + 1
        ax.plot(xs, ys, marker="os^D"[nth % 4], linestyle=LINESTYLES[nth % len(LINESTYLES)], label=label, color=colour)
    ax.set_xticks(list(ticks), [ticks[x] for x in ticks], rotation=30, ha="right")
    ax.set_xlabel("resolution (placed by megapixels)")
    ax.set_ylabel("s / image (median)")
    ax.legend(fontsize=7)
    note = f" Showing {len(keys)} of {len(series)} series." if len(series) > len(keys) else ""
    return FigureSvg("latency", title, caption + note, to_svg(fig, "latency"))


@_styled
def stage_breakdown(records: Sequence[RunRecord]) -> FigureSvg:
    """Seconds per image split by pipeline stage, one stacked bar per successful run."""
    title = "Stage breakdown"
    caption = "Seconds per image spent in each stage (text encoder, prior, denoise, decode); 'other' is the rest."
    ok = [r for r in records if r.summary is not None and r.summary.stage_s_per_image]
    if not ok:
        return FigureSvg("stages", title, caption, "", "no run recorded stage times")
    shown = ok[:MAX_BARS]
    labels = unique_labels(
        [
            f"{r.spec.model} {r.spec.resolution}" + (f" b{r.spec.batch_size}" if r.spec.batch_size > 1 else "")
            for r in shown
        ],
        [run_facts(r.spec) for r in shown],
    )
    fig = _new_figure()
    ax = _axes(fig)
    bottoms = [0.0] * len(shown)
    names = [*STAGES, *sorted({s for r in shown for s in r.summary.stage_s_per_image if s not in STAGES})]  # type: ignore[union-attr]
    for stage in [*names, "other"]:
        values = [
            (r.summary.unaccounted_s_per_image if stage == "other" else r.summary.stage_s_per_image.get(stage, 0.0))  # type: ignore[union-attr]
            for r in shown
        ]
        values = [max(v, 0.0) for v in values]
        if not any(values):
            continue
        colour = STAGE_COLOURS.get(stage, OTHER_COLOUR)
        ax.bar(range(len(shown)), values, bottom=bottoms, label=stage, color=colour, width=0.7)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    ax.set_xticks(range(len(shown)), labels, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("s / image")
    ax.legend(fontsize=7)
    note = f" Showing the first {len(shown)} of {len(ok)} runs." if len(ok) > len(shown) else ""
    return FigureSvg("stages", title, caption + note, to_svg(fig, "stages"))


def pick_timeline_record(records: Sequence[RunRecord]) -> RunRecord | None:
    """The run whose memory timeline is worth showing: the successful run with the highest peak."""
    with_tl = [r for r in records if r.timeline is not None and r.timeline.t_s and _memory_series(r)[0]]
    if not with_tl:
        return None
    ok = [r for r in with_tl if r.ok] or with_tl
    return max(ok, key=lambda r: max(v for v in _memory_series(r)[1] if v is not None))


def _memory_series(record: RunRecord) -> tuple[str, list[float | None]]:
    series = record.timeline.series if record.timeline else {}
    for name in ("vram_used_mb", "torch_allocated_mb", "rss_mb"):
        values = series.get(name)
        if values and any(v is not None for v in values):
            return name, values
    return "", []


@_styled
def memory_timeline(records: Sequence[RunRecord]) -> FigureSvg:
    """VRAM (or RSS on CPU) over time for one run, with its stage spans shaded."""
    title = "Memory over time"
    rec = pick_timeline_record(records)
    if rec is None or rec.timeline is None:
        return FigureSvg("timeline", title, "", "", "no run recorded a memory timeline")
    name, values = _memory_series(rec)
    kind = "RSS (process, CPU run)" if name == "rss_mb" else "VRAM used"
    caption = f"{kind} in MB for {rec.run_key}, sampled every {rec.timeline.interval_s:g} s; shaded bands are stages."
    fig = _new_figure()
    ax = _axes(fig)
    pts = [(t, v) for t, v in zip(rec.timeline.t_s, values, strict=False) if v is not None]
    ax.plot([p[0] for p in pts], [p[1] for p in pts], color="#333333", linewidth=1.2, label=kind)
    seen: dict[str, str] = {}
    for span in rec.timeline.spans:
        colour = seen.setdefault(span.stage, SPAN_COLOURS[len(seen) % len(SPAN_COLOURS)])
        ax.axvspan(span.start_s, span.end_s, color=colour, alpha=0.18, linewidth=0)
        ax.axvline(span.start_s, color=colour, linewidth=0.6, alpha=0.7)
    for stage, colour in seen.items():
        ax.bar([0], [0], color=colour, alpha=0.35, label=stage, width=0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{'RSS' if name == 'rss_mb' else 'VRAM'} (MB)")
    ax.legend(fontsize=7, loc="lower right")
    return FigureSvg("timeline", title, caption, to_svg(fig, "timeline"))


@_styled
def cost_by_gpu(points: Sequence[CostPoint]) -> FigureSvg:
    """Dollars per 1000 images by GPU for each model's headline workload; projected bars are hatched."""
    title = "$ per 1000 images by GPU"
    caption = (
        "Each GPU at its price under the price policy and the memory option kbench recommend picks for it (the "
        "fastest that fits; * marks a GPU that needs CPU offload for at least one model). Solid bars were "
        "measured; hatched, lighter bars are projections. Each model is shown at its largest workload: "
    )
    if not points:
        return FigureSvg("cost_gpu", title, caption, "", "no GPU with a price fits any workload")
    workloads = sorted({p.workload for p in points})
    gpus = sorted(
        {p.gpu_name for p in points}, key=lambda g: min(p.usd_per_1k_images for p in points if p.gpu_name == g)
    )
    fig = _new_figure(3.8)
    ax = _axes(fig)
    width = 0.8 / len(workloads)
    labelled: set[str] = set()
    offloaded: set[str] = set()
    for w_index, workload in enumerate(workloads):
        colour = MODEL_COLOURS[w_index % len(MODEL_COLOURS)]
        by_gpu = {p.gpu_name: p for p in points if p.workload == workload}
        for g_index, gpu in enumerate(gpus):
            p = by_gpu.get(gpu)
            if p is None:
                continue
            measured = p.source == "measured"
            ax.bar(
                g_index + (w_index - (len(workloads) - 1) / 2) * width,
                p.usd_per_1k_images,
                width=width,
                facecolor=colour if measured else to_rgba(colour, 0.25),  # light fill: the hatch shows on it
                hatch=None if measured else "////",
                edgecolor=colour,  # hatch lines take the edge colour, at full strength
                linewidth=0.8,
                label=None if workload in labelled else workload,
            )
            labelled.add(workload)
            if p.memory != "none":
                offloaded.add(gpu)
    ax.bar([0], [0], width=0, facecolor="#777777", edgecolor="#777777", label="measured (solid)")
    ax.bar(
        [0], [0], width=0, facecolor=to_rgba("#777777", 0.25), edgecolor="#777777", hatch="////",
        label="projected (hatched)",
    )  # fmt: skip
    gpus = [f"{g}*" if g in offloaded else g for g in gpus]
    ax.set_xticks(range(len(gpus)), gpus, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("$ / 1000 images")
    ax.legend(fontsize=7)
    return FigureSvg("cost_gpu", title, caption + "; ".join(workloads) + ".", to_svg(fig, "cost_gpu"))


LABEL_OFFSETS_PT = ((4, 4), (4, -4), (-4, 4), (-4, -4), (0, 8), (0, -8))
"""Where a point's label may go, tried in order: up-right, down-right, up-left, down-left, above, below."""
MARKER_RADIUS_PX = 4.0  # half the box a scatter marker of size 28 covers, with a little air


def place_labels(fig: Figure, ax: Axes, items: Sequence[tuple[str, float, float]]) -> list[Bbox | None]:
    """Annotate each (text, x, y) point where the label overlaps no other label, marker or the axes' edge.

    The layout is fixed first (constrained layout runs once, then is switched off) so the boxes checked here
    are the boxes saved. A label that fits nowhere is left off (``None``); the caller says so in words.
    """
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    fig.set_layout_engine("none")
    renderer = canvas.get_renderer()
    to_px = ax.transData.transform
    area = ax.get_window_extent(renderer)
    taken = [
        Bbox.from_extents(px - MARKER_RADIUS_PX, py - MARKER_RADIUS_PX, px + MARKER_RADIUS_PX, py + MARKER_RADIUS_PX)
        for px, py in (to_px((x, y)) for _, x, y in items)
    ]
    placed: list[Bbox | None] = []
    for index, (text, x, y) in enumerate(items):
        box: Bbox | None = None
        for dx, dy in LABEL_OFFSETS_PT:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top"
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=6, ha=ha, va=va)
            extent = ann.get_window_extent(renderer).padded(1.0)
            inside = area.containsx(extent.x0) and area.containsx(extent.x1)
            inside = inside and area.containsy(extent.y0) and area.containsy(extent.y1)
            clear = not any(extent.overlaps(t) for i, t in enumerate(taken) if i != index)  # its own marker aside
            if inside and clear:
                box = extent
                break
            ann.remove()
        if box is not None:
            taken.append(box)
        placed.append(box)
    return placed


@_styled
def cost_vs_latency(points: Sequence[CostPoint]) -> FigureSvg:
    """Each GPU as a point of (s/image, $/1000 images) per headline workload; only Pareto-front GPUs are named."""
    title = "Cost vs latency"
    caption = (
        "Lower-left is better (both axes logarithmic). Filled markers were measured, hollow ones projected; the "
        "line joins the GPUs no other GPU beats on both speed and cost (the Pareto front) for that workload, and "
        "only those GPUs are named."
    )
    if not points:
        return FigureSvg("pareto", title, caption, "", "no GPU with a price fits any workload")
    fig = _new_figure(4.4)
    ax = _axes(fig)
    labels: list[tuple[str, float, float]] = []
    fronts: list[str] = []
    for w_index, workload in enumerate(sorted({p.workload for p in points})):
        colour = MODEL_COLOURS[w_index % len(MODEL_COLOURS)]
        group = [p for p in points if p.workload == workload]
        for source, face in (("measured", colour), ("projected", "none")):
            sel = [p for p in group if p.source == source]
            if sel:
                ax.scatter(
                    [p.s_per_image for p in sel],
                    [p.usd_per_1k_images for p in sel],
                    facecolors=face,
                    edgecolors=colour,
                    s=28,
                    label=f"{workload} ({source})",
                )
        front = [group[i] for i in pareto_front([(p.s_per_image, p.usd_per_1k_images) for p in group])]
        ax.plot([p.s_per_image for p in front], [p.usd_per_1k_images for p in front], color=colour, linewidth=1)
        labels += [(p.gpu_name, p.s_per_image, p.usd_per_1k_images) for p in front]
        fronts.append(f"{workload}: {', '.join(p.gpu_name for p in front)}")
    if all(p.s_per_image > 0 and p.usd_per_1k_images > 0 for p in points):
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_axis(ax.xaxis)
        plain_log_axis(ax.yaxis)
    ax.set_xlabel("s / image")
    ax.set_ylabel("$ / 1000 images")
    fig.legend(loc="outside lower center", ncols=2, fontsize=6)  # outside the axes: it covers no point or label
    ax.margins(0.12)  # room for the labels of the outermost points
    dropped = sum(box is None for box in place_labels(fig, ax, labels))
    caption += " Pareto front, fastest first: " + "; ".join(fronts) + "."
    if dropped:
        caption += f" {dropped} front label{'s' * (dropped != 1)} left off where it would overlap another."
    return FigureSvg("pareto", title, caption, to_svg(fig, "pareto"))


def build_figures(
    records: Sequence[RunRecord], rows: Sequence[SummaryRow], points: Sequence[CostPoint]
) -> list[FigureSvg]:
    """All report figures, in page order; a figure without data carries the reason instead of an SVG."""
    return [
        latency_vs_resolution(rows),
        stage_breakdown(records),
        memory_timeline(records),
        cost_by_gpu(points),
        cost_vs_latency(points),
    ]


__all__ = [
    "FigureSvg",
    "build_figures",
    "cost_by_gpu",
    "cost_vs_latency",
    "latency_vs_resolution",
    "memory_timeline",
    "pick_timeline_record",
    "place_labels",
    "stage_breakdown",
    "to_svg",
]

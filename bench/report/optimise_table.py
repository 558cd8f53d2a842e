"""The optimisation ranking as table cells and as markdown (the CLI and the report share these cells)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.compare.stats import min_samples_for
from bench.cost.catalog import Catalog
from bench.optimise.ranking import BASELINE_LABEL, RankRow, Speedup, rank
from bench.report.format import fmt_num, markdown_table, md_escape
from bench.results import RunRecord

HEADERS = (
    "#",
    "setting",
    "s/image",
    "speed-up [95% CI]",
    "$/1k",
    "$/1k session",
    "compile s",
    "break-even",
    "peak MB",
    "PSNR dB",
    "SSIM",
    "flags",
)
NOISE_NOTE = (
    "With random or tiny weights the images are noise, but comparing them with the baseline cell still separates "
    "numerically equivalent settings (PSNR infinite or very high: SDPA backends, channels_last, VAE tiling on small "
    "images) from settings that change the computation (caching, quantization: finite PSNR)."
)


def speedup_text(row: RankRow) -> str:
    """``1.07x [0.91, 1.30]``: the speed-up and its interval; the baseline cell itself is the reference."""
    if row.speedup is None:
        return "—"
    ci = row.speedup_ci
    if ci is None:
        return f"{row.speedup:.2f}x" + (" (ref)" if row.setting == BASELINE_LABEL else "")
    return f"{ci.ratio:.2f}x [{ci.low:.2f}, {ci.high:.2f}]"


def _noise_flag(ci: Speedup) -> str | None:
    """The flag of a speed-up the data cannot tell from 1x, naming why in a few words (and the repeats that would)."""
    if not ci.size.judged(ci.confidence):
        need = min_samples_for(ci.confidence)
        return f"within noise (n={ci.n_baseline}/{ci.n_cell} < {need}: needs repeats >= {need})"
    if ci.noise is not None:
        return "within noise"
    return None


def speedup_note(rows: Sequence[RankRow]) -> str:
    """How the speed-up intervals were made and when one is "within noise" (the basis of every speed-up shown)."""
    conf = next((r.speedup_ci.confidence for r in rows if r.speedup_ci is not None), 0.95)
    return (
        f"Speed-up: the baseline cell's median s/image over the cell's, with its {conf:.0%} interval from the "
        "per-image samples of both (percentile bootstrap; the full min/max range below 5 samples a side). "
        f"'within noise': the interval includes 1x, or a side has fewer than {min_samples_for(conf)} samples "
        f"(n = baseline/cell), too few for any {conf:.0%} verdict. Each cell is one process: the interval "
        "holds the noise between its calls, not the noise between processes (other load, placement), which "
        "repeating the sweep shows." + _repeats_note(rows, conf)
    )


def _repeats_note(rows: Sequence[RankRow], confidence: float) -> str:
    """Said plainly when the sweep's repeats are too few for any cell to be told apart from its baseline."""
    cis = [r.speedup_ci for r in rows if r.speedup_ci is not None]
    if not cis or any(ci.size.judged(ci.confidence) for ci in cis):
        return ""
    fewest = min(min(ci.n_baseline, ci.n_cell) for ci in cis)
    need = min_samples_for(confidence)
    return (
        f" At {fewest} calls a cell this sweep cannot tell any setting from its baseline at {confidence:.0%}: "
        f"rerun it with repeats: {need} or more."
    )


def _psnr(value: float | None) -> str:
    if value is None:
        return "—"
    return "inf" if math.isinf(value) else f"{value:.1f}"


def _break_even(value: float | None) -> str:
    if value is None:
        return "—"
    return "never" if math.isinf(value) else f"{math.ceil(value):,}"


def flags(row: RankRow) -> str:
    marks = []
    if row.speedup_ci is not None and (noise := _noise_flag(row.speedup_ci)):
        marks.append(noise)
    if row.flagged:
        marks.append("QUALITY CHANGED")
    if row.pareto:
        marks.append("pareto")
    if row.recompiles:
        marks.append(f"{row.recompiles} recompile(s)")
    return ", ".join(marks)


def row_cells(rank_no: int, row: RankRow) -> list[str]:
    """One measured cell's cells, in :data:`HEADERS` order."""
    memory = f"{row.peak_memory_mb:,.0f} {row.memory_kind}" if row.peak_memory_mb else "—"
    return [
        str(rank_no),
        row.setting,
        fmt_num(row.s_per_image),
        speedup_text(row),
        fmt_num(row.usd_per_1k),
        fmt_num(row.usd_per_1k_session),
        fmt_num(row.compile_s),
        _break_even(row.break_even_images),
        memory,
        _psnr(row.psnr_db),
        "—" if row.ssim is None else f"{row.ssim:.4f}",
        flags(row),
    ]


@dataclass(frozen=True)
class Group:
    """The ranking of one model/device and workload: measured cells ranked, the others with their reason."""

    heading: str
    cells: list[list[str]]
    unmeasured: list[tuple[str, str, str]]  # setting, status, reason


def grouped(rows: Sequence[RankRow]) -> list[Group]:
    """One :class:`Group` per model/device and workload, in the ranking's order, ranked from 1 within each."""
    out: list[Group] = []
    for row in rows:
        heading = f"{row.group}: {row.workload}"
        if not out or out[-1].heading != heading:
            out.append(Group(heading, [], []))
        group = out[-1]
        if row.s_per_image is None:
            group.unmeasured.append((row.setting, row.status, row.reason or ""))
        else:
            group.cells.append(row_cells(len(group.cells) + 1, row))
    return out


def cost_note(rows: Sequence[RankRow]) -> str:
    """Whether the $ figures include compile time (they do in the session column, never in the steady one)."""
    images = rows[0].session_images if rows else 0
    priced = any(r.usd_per_1k is not None for r in rows)
    base = (
        f"$/1k steady: a warm server, start-up excluded. $/1k session: {images:,} images paying the model load, "
        "warmup and (compiled cells) the compile call, billed as the provider rounds time."
    )
    return base if priced else base + " No GPU price applies to these runs (CPU or an unknown GPU): pass --gpu ID."


def render_optimise_markdown(rows: Sequence[RankRow]) -> str:
    """The ranking section of the markdown report."""
    if not rows:
        return ""
    out = ["### Optimisation ranking", "", md_escape(NOISE_NOTE), "", md_escape(cost_note(rows)), ""]
    out += [md_escape(speedup_note(rows)), ""]
    for group in grouped(rows):
        out += [f"**{md_escape(group.heading)}**", "", markdown_table(HEADERS, group.cells), ""]
        out += [
            f"- {md_escape(setting)}: **{status}**: {md_escape(reason)}" for setting, status, reason in group.unmeasured
        ]
        out += [""] if group.unmeasured else []
    notes = sorted({r.quality_note for r in rows if r.quality_note})
    out += [f"- {md_escape(n)}" for n in notes]
    return "\n".join(out).rstrip() + "\n"


def optimise_section(records: Sequence[RunRecord], catalog: Catalog) -> str:
    """The markdown ranking for a report, or "" when no record has speed settings (the hook of ``build_report``)."""
    if not any(r.spec.optimise.key_part for r in records):
        return ""
    return "\n" + render_optimise_markdown(rank(records, catalog))


__all__ = [
    "HEADERS",
    "NOISE_NOTE",
    "Group",
    "cost_note",
    "flags",
    "grouped",
    "optimise_section",
    "render_optimise_markdown",
    "row_cells",
    "speedup_note",
    "speedup_text",
]

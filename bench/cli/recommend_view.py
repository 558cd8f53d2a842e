"""``kbench recommend`` output: the ranked table (terminal, markdown) and its JSON rows.

The terminal table fits 120 columns: each price's source is a numbered footnote under the table, and the
provider column is the one cut when a row is still too long.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.cli.json_doc import choice_json, figure, session_json
from bench.cli.tables import Footnotes, format_table, markdown, terminal_width, wrap_notes
from bench.cost.rental import RentalRow
from bench.spec import Workload

MEMORY_SHORT = {
    "none": "none",
    "model_cpu_offload": "model",
    "sequential_cpu_offload": "seq",
    "attention_slicing": "slice",
}
SOURCE_SHORT = {"measured": "meas", "projected": "proj"}


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.3f}"


def _seconds(row: RentalRow) -> str:
    e = row.estimate
    if row.s_interval is None:
        return f"{e.s_per_image:.2f} {SOURCE_SHORT[e.source]}"
    lo, hi = row.s_interval
    return f"{_two(e.s_per_image)} s ({_two(lo)}-{_two(hi)}) {SOURCE_SHORT[e.source]}"


def _two(x: float) -> str:
    """Two significant digits the way people read seconds: 0.91, 2.7, 14."""
    return f"{x:.2f}" if x < 1 else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def _price_cells(row: RentalRow) -> list[str]:
    p = row.price
    if p is None:
        return ["no price", "-"]
    return [p.provider, p.date[:10] + (" STALE" if p.stale else "")]


def _footnote(row: RentalRow) -> str | None:
    p = row.price
    if p is None:
        return None
    stale = f"; stale: {p.age_days} days old" if p.stale else ""
    return f"{p.provider}, {p.tier_label}, {p.date}{stale}; billed {p.billing.label}; {p.source_text}"


def table(rows: Sequence[RentalRow], *, session: bool, spot: bool) -> tuple[list[str], list[list[str]], Footnotes]:
    """Headers, cells and footnotes of the ranked table."""
    notes = Footnotes()
    headers = ["#", "gpu", "memory", "VRAM GB", "s/img", "$/h", "$/1k img"]
    headers += ["session $/1k"] if session else []
    headers += ["spot $/1k"] if spot else []
    headers += ["provider", "price date", "ref"]
    body = []
    for i, r in enumerate(rows, start=1):
        e = r.estimate
        cells = [
            f"={i}" if r.tied else str(i),
            e.gpu_id,
            MEMORY_SHORT.get(e.memory, e.memory),
            f"{e.vram_needed_gb:.1f}/{e.vram_gpu_gb:g}",
            _seconds(r),
            _money(r.price.usd_per_hour if r.price else None),
            _money(r.cost.steady_usd_per_1k_images if r.cost else None),
        ]
        if session:
            cells.append(_money(r.cost.session.usd_per_1k_images if r.cost and r.cost.session else None))
        if spot:
            stale = " stale" if r.spot_price and r.spot_price.stale else ""
            cells.append(_money(r.spot_cost.steady_usd_per_1k_images if r.spot_cost else None) + stale)
        cells += [*_price_cells(r), notes.ref(_footnote(r))]
        body.append(cells)
    return headers, body, notes


def render_text(
    rows: Sequence[RentalRow], header: str, extra_notes: Sequence[str], *, session: bool, as_markdown: bool
) -> str:
    """The whole printed output: a title line, the table, footnotes and notes."""
    spot = any(r.spot_cost for r in rows)
    headers, body, notes = table(rows, session=session, spot=spot)
    legend = [
        "memory: the fastest option that fits each GPU (none; model = model CPU offload; seq = sequential CPU "
        "offload); VRAM GB = estimated need / the card's; meas/proj = measured / projected",
    ]
    if spot:
        legend.append("spot $/1k: at the GPU's spot price, which the provider can reclaim at any time (not ranked)")
    if any(r.tied for r in rows):
        legend.append("=N: its cost interval overlaps the cheapest GPU's: statistically tied with #1")
    if any(r.price and r.price.stale for r in rows):
        legend.append(
            "STALE: only prices older than --max-price-age exist for that GPU; ranked after the GPUs with fresh "
            "prices, in cost order"
        )
    if as_markdown:
        return f"{header}\n\n" + markdown(headers, body, [*notes.lines(), *legend, *extra_notes])
    shrink = [headers.index("provider")]
    # the price's date and provider are in its footnote too; the spot price is not ranked on: they go first
    optional = [headers.index(h) for h in ("price date", "provider", "spot $/1k", "$/h") if h in headers]
    lines = [
        *wrap_notes([header]),
        format_table(headers, body, width=terminal_width(), shrink=shrink, optional=optional),
        "",
    ]
    lines += wrap_notes([*notes.lines(), *legend, *extra_notes])
    return "\n".join(lines) + "\n"


def json_rows(rows: Sequence[RentalRow]) -> list[dict[str, Any]]:
    """One JSON row per GPU, in rank order."""
    out = []
    for i, r in enumerate(rows, start=1):
        e = r.estimate
        label = e.source
        cost = r.cost
        out.append(
            {
                "rank": i,
                "gpu": {"id": e.gpu_id, "name": e.gpu_name, "vram": figure(e.vram_gpu_gb, "GB", "catalog")},
                "memory": e.memory,
                "s_per_image": figure(
                    e.s_per_image, "s/image", label, interval=list(r.s_interval) if r.s_interval else None
                ),
                "basis": e.calibration,
                "vram_needed": figure(e.vram_needed_gb, "GiB", e.vram_source),
                "headroom": figure(e.headroom_gb, "GiB", "computed"),
                "usd_per_1k_images": figure(
                    cost.steady_usd_per_1k_images if cost else None,
                    "USD/1000 images",
                    label,
                    interval=list(r.usd_interval) if r.usd_interval else None,
                ),
                "session": session_json(cost.session if cost else None, label, r.price.billing if r.price else None),
                "overhead": {
                    "load_s": figure(r.overhead.load_s, "s", r.overhead.source),
                    "warmup_s": figure(r.overhead.warmup_s, "s", r.overhead.source),
                    "basis": r.overhead.basis,
                },
                "price": choice_json(r.price),
                "spot": (
                    {
                        "price": choice_json(r.spot_price),
                        "usd_per_1k_images": figure(r.spot_cost.steady_usd_per_1k_images, "USD/1000 images", label),
                    }
                    if r.spot_cost
                    else None
                ),
                "tied": r.tied,
            }
        )
    return out


def title(work: Workload, memory_auto: bool, session: str, tf32: bool = False) -> str:
    memory = "auto (fastest that fits each GPU)" if memory_auto else work.memory
    at = f"; session: {session}" if session else ""
    dtype = f"{work.dtype} (TF32 matmuls)" if tf32 else work.dtype
    return (
        f"{work.model} {work.task} {work.resolution}, {work.steps} steps, batch {work.images_per_call}, "
        f"{dtype}, memory={memory}{at}"
    )


def query(work: Workload, memory_auto: bool, policy: str, session: str, tf32: bool = False) -> dict[str, Any]:
    return {
        "model": work.model,
        "task": work.task,
        "resolution": work.resolution,
        "steps": work.steps,
        "batch": work.images_per_call,
        "dtype": work.dtype,
        "tf32": tf32,
        "memory": "auto" if memory_auto else work.memory,
        "price_policy": policy,
        "session": session or None,
    }


__all__ = ["json_rows", "query", "render_text", "table", "title"]

"""The model comparison table as text: plain string cells for the terminal, GitHub markdown, and footnotes.

The numbers come from :func:`bench.cost.model_comparison.compare_models`; this module only renders them.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.cost.model_comparison import PROMPT_LANGUAGES, ModelRow
from bench.report.format import markdown_table

MEMORY_SHORT = {"none": "none", "model_cpu_offload": "model offload", "sequential_cpu_offload": "seq offload"}
SOURCE_SHORT: dict[str, str] = {"measured": "meas", "projected": "proj"}


def _label(source: str | None) -> str:
    return SOURCE_SHORT.get(source or "", "")


def table_cells(rows: Sequence[ModelRow]) -> tuple[list[str], list[list[str]]]:
    """Headers and string cells of the comparison table; every number is suffixed ``meas`` or ``proj``."""
    if not rows:
        return [], []
    headers = ["model", "res", "steps", "dtype"]
    headers += [f"VRAM GiB {MEMORY_SHORT.get(c.memory, c.memory)}" for c in rows[0].vram]
    for cell in rows[0].speed:
        headers += [f"{cell.gpu_id} s/img", f"{cell.gpu_id} $/1k img"]
    headers += ["tasks", *PROMPT_LANGUAGES]
    body: list[list[str]] = []
    for r in rows:
        line = [r.model, r.resolution, str(r.steps), r.dtype]
        line += [f"{c.gib:.1f} {_label(c.source)}" for c in r.vram]
        tied = tied_gpus(r)
        for s in r.speed:
            if s.s_per_image is None:
                line += [f"no fit in {s.gpu_vram_gb:g} GB", "-"]
                continue
            memory = "" if s.memory == "none" else f" [{MEMORY_SHORT.get(s.memory or 'none', s.memory)}]"
            band = (
                f" ({s.s_per_image_interval[0]:.2f}-{s.s_per_image_interval[1]:.2f})" if s.s_per_image_interval else ""
            )
            line.append(f"{s.s_per_image:.2f}{band} {_label(s.source)}{memory}")
            mark = "*" if s.gpu_id in tied else ""
            line.append("-" if s.usd_per_1k_images is None else f"${s.usd_per_1k_images:.3f}{mark} {_label(s.source)}")
        line.append(",".join(r.tasks))
        line += ["yes" if r.languages[lang] else "no" for lang in PROMPT_LANGUAGES]
        body.append(line)
    return headers, body


def tied_gpus(row: ModelRow) -> set[str]:
    """GPUs whose $ interval overlaps that of the model's cheapest GPU (the cheapest itself not included)."""
    priced = [s for s in row.speed if s.usd_low_high is not None and s.usd_per_1k_images is not None]
    if len(priced) < 2:
        return set()
    best = min(priced, key=lambda s: s.usd_per_1k_images or 0.0)
    best_hi = best.usd_low_high[1] if best.usd_low_high else 0.0
    return {s.gpu_id for s in priced if s is not best and s.usd_low_high and s.usd_low_high[0] <= best_hi}


def table_notes(rows: Sequence[ModelRow]) -> list[str]:
    """Footnotes: what meas/proj mean, each projection's calibration, prices and language sources."""
    notes = [
        "meas = measured by a result record of this exact workload on this GPU; proj = projected (meta-device "
        "FLOP/byte counts and roofline); VRAM in GiB (the 'GB' of a card); [..] = memory option the speed assumes",
    ]
    if any(tied_gpus(r) for r in rows):
        notes.append("* its $ interval overlaps that of the model's cheapest GPU: statistically tied with it")
    calibrations = sorted({f"{r.model}: {s.calibration}" for r in rows for s in r.speed if s.source == "projected"})
    notes += [f"projected {c}" for c in calibrations]
    prices = sorted({f"{s.gpu_id}: {s.price_label}" for r in rows for s in r.speed if s.price_label})
    notes += [f"price {p}" for p in prices]
    notes += [f"languages {r.model}: {r.language_source}" for r in rows]
    return notes


def render_markdown_table(rows: Sequence[ModelRow]) -> str:
    """The comparison table as GitHub markdown, footnotes as a list ('|' in cells escaped)."""
    headers, body = table_cells(rows)
    if not headers:
        return "_No models to compare._\n"
    out = [markdown_table(headers, body), ""]
    out += [f"- {n}" for n in table_notes(rows)]
    return "\n".join(out) + "\n"


__all__ = ["MEMORY_SHORT", "SOURCE_SHORT", "render_markdown_table", "table_cells", "table_notes", "tied_gpus"]

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
        for s in r.speed:
            if s.s_per_image is None:
                line += [f"no fit in {s.gpu_vram_gb:g} GB", "-"]
                continue
            memory = "" if s.memory == "none" else f" [{MEMORY_SHORT.get(s.memory or 'none', s.memory)}]"
            line.append(f"{s.s_per_image:.2f} {_label(s.source)}{memory}")
            line.append("-" if s.usd_per_1k_images is None else f"${s.usd_per_1k_images:.3f} {_label(s.source)}")
        line.append(",".join(r.tasks))
        line += ["yes" if r.languages[lang] else "no" for lang in PROMPT_LANGUAGES]
        body.append(line)
    return headers, body


def table_notes(rows: Sequence[ModelRow]) -> list[str]:
    """Footnotes: what meas/proj mean, each projection's calibration, prices and language sources."""
    notes = [
        "meas = measured by a result record of this exact workload on this GPU; proj = projected (meta-device "
        "FLOP/byte counts and roofline); VRAM in GiB (the 'GB' of a card); [..] = memory option the speed assumes",
    ]
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


__all__ = ["MEMORY_SHORT", "SOURCE_SHORT", "render_markdown_table", "table_cells", "table_notes"]

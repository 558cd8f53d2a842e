"""A markdown summary for CI job summaries (``$GITHUB_STEP_SUMMARY``) and pull-request comments.

Short by design: GitHub caps a pull-request comment at 65,536 characters, so long tables are cut
with a pointer to the HTML report. Text from scenario and results files is escaped so a name can
neither break a table nor inject HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bench.report.answer import ANSWER_HEADERS, AnswerTable
from bench.report.data import ReportData
from bench.report.format import fmt_num, markdown_table, md_escape
from bench.report.rows import SummaryRow

MAX_SUMMARY_ROWS = 60
MAX_FAILED_ROWS = 40


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return markdown_table(headers, rows).splitlines()


def _memory(row: SummaryRow) -> str:
    if row.peak_memory_mb is None:
        return "—"
    return f"{fmt_num(row.peak_memory_mb, 4)} {row.peak_memory_kind}"


def _summary_cells(row: SummaryRow) -> list[str]:
    return [
        md_escape(row.model),
        row.task,
        row.language,
        row.resolution,
        str(row.steps),
        row.batch,
        row.dtype,
        row.memory,
        md_escape(row.device),
        f"**{row.status}**" if row.status != "ok" else "ok",
        fmt_num(row.median_s_per_image),
        fmt_num(row.p90_s_per_image),
        fmt_num(row.images_per_s),
        _memory(row),
        fmt_num(row.energy_j_per_image),
        fmt_num(row.usd_per_1k_images),
    ]


VERSION_KEYS = (
    ("driver", "driver_version"),
    ("CUDA", "torch_cuda_version"),
    ("torch", "torch_version"),
    ("diffusers", "diffusers_version"),
    ("transformers", "transformers_version"),
)
"""Environment keys (as :func:`bench.measure.env.capture_environment` writes them) shown in the summary."""

SUMMARY_HEADERS = (
    "model",
    "task",
    "language",
    "resolution",
    "steps",
    "batch",
    "dtype",
    "memory option",
    "device",
    "status",
    "s/image median",
    "s/image p90",
    "images/s",
    "peak memory MB",
    "J/image",
    "$/1000 images",
)


def answer_markdown(answers: Sequence[AnswerTable]) -> list[str]:
    """Which GPU to rent, per workload: the cheapest that fit, as ``kbench recommend`` ranks them."""
    if not answers:
        return []
    out = ["### Which GPU to rent", ""]
    out.append(
        "Cheapest GPUs that fit each workload, ranked as `kbench recommend --memory auto` ranks them (same prices); "
        "intervals are the projection's; STALE prices rank last."
    )
    for a in answers:
        out += ["", f"**{md_escape(a.workload)}**", ""]
        if not a.rows:
            out.append(f"_No GPU: {md_escape(a.reason or 'none fits')}._")
            continue
        out += _table(ANSWER_HEADERS, ([md_escape(c) for c in r.cells()] for r in a.rows))
        if a.more:
            out.append(f"\n_{a.more} more GPUs fit: `kbench recommend` lists them._")
        if a.projected_note:
            out.append(f"\n_{md_escape(a.projected_note)}_")
    out.append("")
    return out


def render_markdown(data: ReportData, html_name: str | None = None) -> str:
    """The job summary: which GPU to rent, warnings about weights, environment, results and failures."""
    more = f" (see {md_escape(html_name)})" if html_name else " (see the HTML report)"
    out = [f"## {md_escape(data.title)}", ""]
    out += "\n>\n".join(f"> **Note:** {md_escape(note)}" for note in data.weight_notes).splitlines()
    if data.weight_notes:
        out.append("")
    out += answer_markdown(data.answers)
    out.append(f"{data.ok_count} of {len(data.rows)} runs ok; kbench {md_escape(', '.join(data.kbench_versions))}.")
    out.append("")
    for env in data.environments:
        keys = dict(env.items)
        gpu = keys.get("gpu_name") or keys.get("cpu_model") or "device not recorded"
        versions = ", ".join(f"{label} {keys[key]}" for label, key in VERSION_KEYS if keys.get(key))
        weights = ", ".join(env.weights)
        where = f"**{md_escape(gpu)}** on {md_escape(', '.join(env.devices))}"
        runs = f"{env.runs} run{'s' * (env.runs != 1)}"
        out.append(f"- {where}; {md_escape(versions) or 'versions not recorded'}; weights: {weights}; {runs}")
    out.append("")
    out += _table(SUMMARY_HEADERS, (_summary_cells(r) for r in data.rows[:MAX_SUMMARY_ROWS]))
    if len(data.rows) > MAX_SUMMARY_ROWS:
        out.append(f"\n_{len(data.rows) - MAX_SUMMARY_ROWS} more runs not shown{more}._")
    notes = sorted({r.cost_note for r in data.rows if r.usd_per_1k_images is None and r.status == "ok"})
    out += [""] + [f"$/1000 images “—”: {md_escape(n)}." for n in notes]
    if data.failed:
        out += ["", "### Failed or skipped runs", ""]
        out += _table(
            ("run", "status", "reason"),
            (
                [md_escape(r.run_key), f"**{r.status}**", md_escape(r.reason) or "—"]
                for r in data.failed[:MAX_FAILED_ROWS]
            ),
        )
        if len(data.failed) > MAX_FAILED_ROWS:
            out.append(f"\n_{len(data.failed) - MAX_FAILED_ROWS} more not shown{more}._")
    return "\n".join(out) + "\n"


__all__ = ["SUMMARY_HEADERS", "md_escape", "render_markdown"]

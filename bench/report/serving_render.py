"""The serving section as HTML (escaped, for the report page) and as markdown (for the job summary)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from bench.cost.serving.section import ServingSection, SloCostRow
from bench.report.format import fmt_num, markdown_table, md_escape

COST_HEADERS = (
    "workload",
    "GPU",
    "memory",
    "s / image",
    "$ / 1000 images (isolated)",
    "max requests/s at SLO",
    "$ / 1000 images at SLO",
    "how computed",
    "note",
)
MEASURED_HEADERS = ("serving configuration", "SLO p99 (s)", "max requests/s at SLO", "$ / 1000 images at SLO", "GPU")


def _band(mid: float | None, band: tuple[float, float] | None) -> str:
    if mid is None:
        return "—"
    return f"{fmt_num(mid)} ({fmt_num(band[0])}–{fmt_num(band[1])})" if band else fmt_num(mid)


def cost_cells(row: SloCostRow) -> list[str]:
    """One row of the $-at-SLO table as plain strings."""
    return [
        row.workload,
        row.gpu_name,
        row.memory,
        f"{fmt_num(row.s_per_image)} {row.source}",
        fmt_num(row.usd_per_1k_isolated),
        _band(row.max_rate_per_s, row.rate_interval),
        _band(row.usd_per_1k_at_slo, row.usd_interval),
        row.basis or "—",
        row.reason or "",
    ]


def _html_table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>\n" for r in rows)
    table = f'<table id="{table_id}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>'
    return f'<div class="wrap">{table}</div>\n'


def render_serving_html(section: ServingSection | None) -> Markup:
    """The section's HTML (every value escaped); empty when there is no section."""
    if section is None:
        return Markup("")
    slo = f"{section.slo_p99_s:g} s" if section.slo_p99_s is not None else "none given"
    parts = [
        '<h2 id="serving">Serving under load</h2>\n',
        f'<p class="small muted">p99 latency SLO: {escape(slo)}. The latency and throughput figures are with the '
        "others above. Plain values measured, the others projected; ranges are the projection's interval.</p>\n",
    ]
    if section.costs:
        parts.append("<h3>$ per image at the SLO, beside the isolated-run cost</h3>\n")
        parts.append(_html_table("serving-slo-cost", COST_HEADERS, [cost_cells(r) for r in section.costs]))
    if section.measured_slo:
        parts.append("<h3>Max rate at the SLO measured on the real server</h3>\n")
        rows = [
            [m.serve_key, fmt_num(m.slo_p99_s), fmt_num(m.max_rate_per_s), fmt_num(m.usd_per_1k_images), m.gpu or "—"]
            for m in section.measured_slo
        ]
        parts.append(_html_table("serving-measured-slo", MEASURED_HEADERS, rows))
    notes = [*section.notes, *(f"{c.title}: {c.note}" for c in section.curves)]
    parts.append('<ul class="small muted">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>\n")
    return Markup("".join(parts))  # every value above went through escape()


def render_serving_markdown(section: ServingSection | None) -> str:
    """The section as markdown for the job summary; empty when there is no section."""
    if section is None:
        return ""
    slo = f"{section.slo_p99_s:g} s" if section.slo_p99_s is not None else "none given"
    out = ["", "### Serving under load", "", f"p99 latency SLO: {md_escape(slo)}.", ""]
    if section.costs:
        rows = [[md_escape(c) for c in cost_cells(r)] for r in section.costs]
        out += [markdown_table(COST_HEADERS, rows), ""]
    for m in section.measured_slo:
        out.append(
            f"- measured {md_escape(m.serve_key)}: max {fmt_num(m.max_rate_per_s)} requests/s at p99 <= "
            f"{fmt_num(m.slo_p99_s)} s, $ {fmt_num(m.usd_per_1k_images)} / 1000 images"
        )
    out += [f"- {md_escape(n)}" for n in section.notes]
    return "\n".join(out) + "\n"


__all__ = ["render_serving_html", "render_serving_markdown"]

"""The serving section as HTML (escaped, for the report page), as markdown (for the job summary) and as CSV.

Every number is labelled in its column's header: *measured* (the real server's load points and its SLO search),
or *simulated* (the simulator's prediction from the same server's calls), with a "how simulated" column saying
whether a figure is exact (a queue with a closed form) or simulated and to what p99 interval. What cannot be
judged says so: ``n<100`` where a point has too few requests for a p99, ``not judged`` for an SLO verdict.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from markupsafe import Markup, escape

from bench.cost.serving.measured import PointComparison, ServerComparison
from bench.cost.serving.point import LoadPoint
from bench.cost.serving.section import ServingSection, SloCostRow
from bench.report.csv_writer import _cell as csv_cell
from bench.report.format import fmt_num, markdown_table, md_escape
from bench.results.serving import MIN_P99_REQUESTS, max_rate_text

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
POINT_HEADERS = (
    "load",
    "phase",
    "status",
    "ok / sent",
    "achieved req/s (measured)",
    "p50 s (measured)",
    "p90 s (measured)",
    "p99 s (measured)",
    "SLO (measured)",
    "p50 s (simulated)",
    "p99 s (simulated)",
    "how simulated",
)
RATE_HEADERS = (
    "serving configuration",
    "SLO p99 (s)",
    "max requests/s at SLO (measured)",
    "$ / 1000 images at SLO (measured)",
    "max requests/s at SLO (simulated)",
    "p99 s there (simulated)",
    "how simulated",
)
CSV_COLUMNS = (
    "serve_key",
    "offered_rate_per_s",
    "concurrency",
    "phase",
    "status",
    "sent",
    "completed",
    "measured_achieved_rate_per_s",
    "measured_p50_s",
    "measured_p90_s",
    "measured_p99_s",
    "measured_slo",
    "simulated_p50_s",
    "simulated_p99_s",
    "simulated_p99_low_s",
    "simulated_p99_high_s",
    "simulated_basis",
)


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


def how(point: LoadPoint) -> str:
    """A figure's basis in a cell: ``exact M/D/1``, or ``simulated, p99 ±1.9%`` (``!``: short of its target)."""
    short = point.basis.short()
    return f"exact {short}" if point.basis.exact else f"simulated, p99 {short}" if short != "sim" else "simulated"


def slo_cell(c: PointComparison) -> str:
    """The measured point's SLO verdict: met, missed, not judged (too few requests to pass), or — (no SLO)."""
    r = c.measured
    if r.slo_ok is not None:
        return "met" if r.slo_ok else "missed"
    return "not judged" if r.slo_p99_s is not None and r.status == "ok" else "—"


def point_cells(c: PointComparison) -> list[str]:
    """One measured load point beside the simulator's prediction at its load, as plain strings."""
    r, sim, lat = c.measured, c.simulated, c.measured.latency
    load = f"{r.offered_rate_per_s:g} req/s" if r.offered_rate_per_s is not None else f"{r.concurrency} in flight"
    load += f" (asked {r.asked_rate_per_s:g})" if r.asked_rate_per_s is not None else ""
    if lat is None:
        measured = ["—", "—", "—"]
    else:
        p99 = fmt_num(lat.p99_s) if lat.p99_s is not None else f"n<{MIN_P99_REQUESTS}: not estimable"
        measured = [fmt_num(lat.p50_s), fmt_num(lat.p90_s), p99]
    simulated = ["—", "—", c.note]
    if sim is not None:
        simulated = [fmt_num(sim.p50_s), _band(sim.p99_s, sim.p99_interval), how(sim)]
    status = r.status if r.status == "ok" else f"{r.status}: {r.reason or ''}"[:200]
    achieved = fmt_num(r.achieved_rate_per_s)
    return [load, r.phase, status, f"{r.completed} / {r.sent}", achieved, *measured, slo_cell(c), *simulated]


def rate_cells(s: ServerComparison) -> list[str]:
    """The max rate at the SLO of one configuration: the measured bracket beside the simulated rate."""
    slo = s.measured_slo
    if slo is None:
        measured, usd = "no SLO search (run for open-loop configurations with serve.slo_p99_s)", "—"
    else:
        measured = max_rate_text(slo)
        if not slo.search_complete and slo.status != "ok":
            measured += f" (search {slo.status}: {slo.reason or ''})"[:200]
        usd = fmt_num(1000 * slo.usd_per_image_at_slo) if slo.usd_per_image_at_slo is not None else "—"
    sim = s.simulated_slo
    rate, p99, note = "—", "—", s.simulated_slo_note
    if sim is not None and sim.max_rate_per_s is not None and sim.point is not None:
        rate = _band(sim.max_rate_per_s, sim.rate_sampling)
        p99, note = fmt_num(sim.point.p99_s), how(sim.point)
    return [s.title, fmt_num(s.slo_p99_s), measured[:300], usd, rate, p99, note]


def _html_table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>\n" for r in rows)
    table = f'<table id="{table_id}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>'
    return f'<div class="wrap">{table}</div>\n'


def section_notes(section: ServingSection) -> list[str]:
    """The notes under the section: the cost table's, then each curve's (where its service time came from)."""
    return [*section.notes, *(f"{c.title}: {c.note}" for c in section.curves)]


def render_serving_html(section: ServingSection | None) -> Markup:
    """The section's HTML (every value escaped); empty when there is no section."""
    if section is None:
        return Markup("")
    slo = f"{section.slo_p99_s:g} s" if section.slo_p99_s is not None else "none given"
    parts = [
        '<h2 id="serving">Serving under load</h2>\n',
        f'<p class="small muted">p99 latency SLO: {escape(slo)}. <em>measured</em>: the real server under load; '
        "<em>simulated</em>: the simulator's prediction for the same server from its own calls (exact where the "
        f"queue has a closed form). A p99 needs {MIN_P99_REQUESTS} completed requests a point; below that it is "
        "not estimable, and the SLO can only be seen missed, never met.</p>\n",
    ]
    for i, server in enumerate(section.servers):
        parts.append(f"<h3>Measured beside simulated: {escape(server.title)}</h3>\n")
        rows = [point_cells(c) for c in server.points]
        parts.append(_html_table(f"serving-points-{i}", POINT_HEADERS, rows))
    if section.servers and section.slo_p99_s is not None:
        parts.append("<h3>Max rate at the SLO, measured and simulated</h3>\n")
        parts.append(_html_table("serving-max-rate", RATE_HEADERS, [rate_cells(s) for s in section.servers]))
    if section.costs:
        parts.append("<h3>$ per image at the SLO, beside the isolated-run cost</h3>\n")
        parts.append(_html_table("serving-slo-cost", COST_HEADERS, [cost_cells(r) for r in section.costs]))
    notes = section_notes(section)
    parts.append('<ul class="small muted">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>\n")
    return Markup("".join(parts))  # every value above went through escape()


def _md(cells: Sequence[str]) -> list[str]:
    return [md_escape(c) for c in cells]


def render_serving_markdown(section: ServingSection | None) -> str:
    """The section as markdown for the job summary; empty when there is no section."""
    if section is None:
        return ""
    slo = f"{section.slo_p99_s:g} s" if section.slo_p99_s is not None else "none given"
    out = ["", "### Serving under load", "", f"p99 latency SLO: {md_escape(slo)}.", ""]
    for server in section.servers:
        out += [f"**Measured beside simulated: {md_escape(server.title)}**", ""]
        out += [markdown_table(POINT_HEADERS, [_md(point_cells(c)) for c in server.points]), ""]
    if section.servers and section.slo_p99_s is not None:
        out += [markdown_table(RATE_HEADERS, [_md(rate_cells(s)) for s in section.servers]), ""]
    if section.costs:
        out += [markdown_table(COST_HEADERS, [_md(cost_cells(r)) for r in section.costs]), ""]
    out += [f"- {md_escape(n)}" for n in section_notes(section)]
    return "\n".join(out) + "\n"


def render_serving_csv(section: ServingSection | None) -> str:
    """Every measured load point beside its prediction, raw numbers (``\\r\\n`` endings, as the summary CSV)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for server in section.servers if section else ():
        for c in server.points:
            r, sim, lat = c.measured, c.simulated, c.measured.latency
            band = sim.p99_interval if sim is not None and sim.p99_interval else (None, None)
            values = [
                r.serve_key, r.offered_rate_per_s, r.concurrency, r.phase, r.status, r.sent, r.completed,
                r.achieved_rate_per_s, lat.p50_s if lat else None, lat.p90_s if lat else None,
                lat.p99_s if lat else None, slo_cell(c), sim.p50_s if sim else None, sim.p99_s if sim else None,
                band[0], band[1], sim.basis.text() if sim else c.note,
            ]  # fmt: skip
            writer.writerow([csv_cell(v) for v in values])
    return buf.getvalue()


__all__ = [
    "CSV_COLUMNS",
    "POINT_HEADERS",
    "RATE_HEADERS",
    "render_serving_csv",
    "render_serving_html",
    "render_serving_markdown",
]

"""The report of serving results alone: ``kbench report --serve FILE`` and the report a serve run writes.

An isolated-run report is about calls timed one by one (its summary table, the guide's projections, which GPU to
rent); none of that exists for a serving results file, so rather than a page of empty tables this is a page of
its own: the serving section (each measured load point beside the simulator's prediction from the same server's
calls, the max rate at the SLO both ways), its figures, the environment the servers ran in and the warnings the
run recorded. The same three files as any report: HTML (self-contained, no script, no network), a markdown
summary and a CSV of the measured-beside-simulated table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from bench.cost.serving.section import ServingSection
from bench.report.context import environment_blocks
from bench.report.format import md_escape
from bench.report.html import stylesheet
from bench.report.serving_figures import serving_figures
from bench.report.serving_render import render_serving_csv, render_serving_html, render_serving_markdown
from bench.results.serving import ServeRecord, SloRecord

MAX_WARNINGS = 50
WEIGHT_NOTES = {
    "random": (
        "random weights: the full-size architecture with randomly initialised weights. The server's calls take "
        "the real model's time at this size; the images are noise."
    ),
    "tiny": (
        "tiny weights: small test configurations of each architecture. These figures show that the serving path "
        "and the simulator work; they say nothing about the real models' latency, rate or cost under load."
    ),
}
CSP = "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class ServingReport:
    """The three renderings of a serving-only report, as text ready to write."""

    html: str
    markdown: str
    csv: str


def _points(records: Sequence[ServeRecord | SloRecord]) -> list[ServeRecord]:
    return [r for r in records if isinstance(r, ServeRecord)]


def banners(records: Sequence[ServeRecord | SloRecord]) -> list[str]:
    """One banner per weight source whose figures must not be read as the real model's."""
    sources = sorted({r.spec.weights for r in records})
    return [WEIGHT_NOTES[s] for s in sources if s in WEIGHT_NOTES]


def _headline(records: Sequence[ServeRecord | SloRecord]) -> str:
    points = _points(records)
    configs = len({p.serve_key for p in points})
    text = f"{len(points)} load point(s) of {configs} serving configuration(s)"
    if points:
        text += f"; measured {min(p.started_at for p in points)} to {max(p.finished_at for p in points)}"
    versions = sorted({r.kbench_version for r in records})
    return text + (f"; kbench {', '.join(versions)}" if versions else "")


def _environment_html(records: Sequence[ServeRecord | SloRecord]) -> str:
    parts = ['<h2 id="environment">Environment</h2>\n']
    for block in environment_blocks(_points(records)):
        parts.append(f'<p class="small muted">{block.runs} load point(s) on {escape(", ".join(block.devices))}</p>')
        items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in block.items)
        parts.append(f'<dl class="env">{items}</dl>\n')
    return "".join(parts)


def _warnings(records: Sequence[ServeRecord | SloRecord]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for p in _points(records):
        for text in p.warnings:
            seen.setdefault((p.serve_key, text), None)
    return list(seen)[:MAX_WARNINGS]


def render_page_html(records: Sequence[ServeRecord | SloRecord], section: ServingSection | None, title: str) -> str:
    """The page: headline, banners, the serving section, its figures, the environment and the warnings."""
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n<link rel="icon" href="data:,">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{escape(title)}</title>\n<style>{stylesheet()}</style>\n</head>\n<body>\n",
        f'<h1>{escape(title)}</h1>\n<p class="muted">{escape(_headline(records))}.</p>\n',
    ]
    parts += [
        f'<p class="banner" role="alert"><strong>Not the real weights.</strong> {escape(n)}</p>\n'
        for n in banners(records)
    ]
    parts.append(str(render_serving_html(section)))
    figures = serving_figures(section)
    if figures:
        parts.append('<h2 id="figures">Figures</h2>\n')
    for fig in figures:
        body = Markup(fig.svg) if fig.svg else f'<p class="muted">Not drawn: {escape(fig.missing)}.</p>'
        caption = f"<strong>{escape(fig.title)}.</strong> {escape(fig.caption)}"
        parts.append(f'<figure id="fig-{escape(fig.key)}">\n<figcaption>{caption}</figcaption>\n{body}\n</figure>\n')
    parts.append(_environment_html(records))
    if warnings := _warnings(records):
        items = "".join(f"<li><code>{escape(k)}</code>: {escape(t)}</li>" for k, t in warnings)
        parts.append(f'<h2 id="warnings">Warnings</h2>\n<ul class="small">{items}</ul>\n')
    parts.append('<p class="small muted">Self-contained: no network access is needed to view this file.</p>\n')
    return "".join(parts) + "</body>\n</html>\n"


def build_serving_report(
    records: Sequence[ServeRecord | SloRecord],
    section: ServingSection | None,
    *,
    title: str,
    html_name: str | None = None,
) -> ServingReport:
    """Render a report of serving results alone (``section``: from :func:`bench.cost.report_numbers.report_numbers`)."""
    md = [f"## {md_escape(title)}", "", md_escape(_headline(records)) + ".", ""]
    md += [f"> **Not the real weights.** {n}" for n in banners(records)]
    if html_name:
        md += ["", f"Figures and the environment: {md_escape(html_name)}."]
    markdown = "\n".join(md) + "\n" + render_serving_markdown(section)
    return ServingReport(render_page_html(records, section, title), markdown, render_serving_csv(section))


__all__ = ["ServingReport", "banners", "build_serving_report", "render_page_html"]

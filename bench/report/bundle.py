"""One report: results, the catalog and the cost room's numbers turned into HTML, markdown and CSV.

Renderers return strings; only the CLI writes files. The projections and the serving simulation are computed
by the cost room (:func:`bench.cost.report_numbers.report_numbers`) and passed in; nothing here projects. Typical use::

    from bench.cost.catalog import load_catalog
    from bench.cost.report_numbers import report_numbers
    from bench.report.bundle import build_report
    from bench.results import read_results

    records, catalog = read_results(["results/run.jsonl"]), load_catalog()
    bundle = build_report(records, catalog, report_numbers(records, catalog))
    Path("reports/run.html").write_text(bundle.html, encoding="utf-8")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost.catalog import Catalog
from bench.cost.report_numbers import ReportNumbers
from bench.report.csv_writer import render_csv
from bench.report.data import ReportData, build_report_data
from bench.report.figures import build_figures
from bench.report.html import render_html
from bench.report.markdown import render_markdown
from bench.report.optimise_figure import optimise_figures
from bench.report.optimise_table import optimise_section
from bench.report.serving_figures import serving_figures
from bench.report.serving_render import render_serving_html, render_serving_markdown
from bench.results import RunRecord

DEFAULT_TITLE = "kandinsky-bench report"


@dataclass(frozen=True)
class ReportBundle:
    """The three renderings of one report, as text ready to write."""

    html: str
    markdown: str
    csv: str
    data: ReportData


def build_report(
    records: Sequence[RunRecord],
    catalog: Catalog,
    numbers: ReportNumbers,
    *,
    title: str = DEFAULT_TITLE,
    html_name: str | None = None,
) -> ReportBundle:
    """Render the HTML page, the markdown job summary and the CSV summary table for ``records``.

    Args:
        records: Result records in the order to show them; failed and skipped runs are listed, not dropped.
        catalog: The priced GPU catalog the numbers were computed on (prices, VRAM, specs).
        numbers: The guide estimates and the serving section from :func:`bench.cost.report_numbers.report_numbers`.
        title: Page and summary heading.
        html_name: File name of the HTML report, so the markdown can point readers to it.

    Returns:
        The three renderings plus the tables they were made from.
    """
    data = build_report_data(records, catalog, numbers, title)
    figures = build_figures(records, data.rows, data.points)
    serving = numbers.serving
    return ReportBundle(
        html=render_html(
            data,
            [*figures, *serving_figures(serving), *optimise_figures(records, catalog)],
            render_serving_html(serving),
        ),
        markdown=render_markdown(data, html_name)
        + render_serving_markdown(serving)
        + optimise_section(records, catalog),
        csv=render_csv(data.rows),
        data=data,
    )


__all__ = ["DEFAULT_TITLE", "ReportBundle", "build_report"]

"""One report: results (measured and projected) plus the GPU catalog turned into HTML, markdown and CSV.

Renderers return strings; only the CLI writes files. Typical use::

    from bench.cost.catalog import load_catalog
    from bench.report.bundle import build_report
    from bench.results import read_results

    bundle = build_report(read_results(["results/run.jsonl"]), load_catalog())
    Path("reports/run.html").write_text(bundle.html, encoding="utf-8")
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from bench.cost.catalog import Catalog
from bench.cost.projection import Estimate
from bench.report.csv_writer import render_csv
from bench.report.data import ReportData, build_report_data
from bench.report.figures import build_figures
from bench.report.guide_workloads import guide_estimates
from bench.report.html import render_html
from bench.report.markdown import render_markdown
from bench.report.optimise_figure import optimise_figures
from bench.report.optimise_table import optimise_section
from bench.report.serving_data import build_serving
from bench.report.serving_figures import serving_figures
from bench.report.serving_render import render_serving_html, render_serving_markdown
from bench.results import RunRecord
from bench.serve.schema import ServeRecord, SloRecord

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
    *,
    gpu_ids: Iterable[str] | None = None,
    title: str = DEFAULT_TITLE,
    html_name: str | None = None,
    estimates: Sequence[Estimate] | None = None,
    serve_records: Sequence[ServeRecord | SloRecord] = (),
    slo_p99_s: float | None = None,
    stale_gpus: Collection[str] = (),
) -> ReportBundle:
    """Render the HTML page, the markdown job summary and the CSV summary table for ``records``.

    Args:
        records: Result records in the order to show them; failed and skipped runs are listed, not dropped.
        catalog: The GPU catalog from :func:`bench.cost.catalog.load_catalog` (prices, VRAM, specs).
        gpu_ids: Catalog GPU ids for the guide tables; ``None`` means every GPU in the catalog.
        title: Page and summary heading.
        html_name: File name of the HTML report, so the markdown can point readers to it.
        estimates: Precomputed :func:`~bench.report.guide_workloads.guide_estimates` output (the guide's
            workloads plus those of full-size GPU records), to reuse one projection for several renderings;
            computed here when ``None``.
        serve_records: Serving results (load points, SLO searches) whose measured points join the simulated
            latency-vs-load curves (:mod:`bench.report.serving_data`).
        slo_p99_s: The p99 latency SLO of the "$ per image at SLO" table (default: the serving records').

    Returns:
        The three renderings plus the tables they were made from.
    """
    if estimates is None:
        gpus = list(gpu_ids) if gpu_ids is not None else None
        estimates = guide_estimates(records, catalog, gpu_ids=gpus)
    data = build_report_data(records, catalog, estimates, title, stale_gpus)
    figures = build_figures(records, data.rows, data.points)
    serving = build_serving(records, serve_records, estimates, slo_p99_s)
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

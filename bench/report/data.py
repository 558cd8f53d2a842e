"""Everything a report shows, computed once from records, the catalog and the guide estimates.

The HTML, markdown and CSV renderers read one :class:`ReportData`, so they show the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost.catalog import Catalog
from bench.cost.guide import (
    GuideTable,
    RentalRates,
    VramRow,
    cost_table,
    model_comparison,
    rental_rates,
    time_table,
    vram_table,
)
from bench.cost.model_comparison import ModelRow
from bench.cost.report_numbers import ANSWER_ROWS, ReportNumbers
from bench.report.answer import AnswerTable, answer_tables
from bench.report.architecture import BuiltRow, built_rows
from bench.report.context import (
    EnvBlock,
    ScenarioInfo,
    environment_blocks,
    run_warnings,
    scenario_infos,
    weight_notes,
)
from bench.report.model_table import table_notes
from bench.report.points import CostPoint, focus_points
from bench.report.rows import SummaryRow, summary_rows
from bench.results import RunRecord


@dataclass(frozen=True)
class ReportData:
    """Everything a renderer shows, computed once so the HTML, markdown and CSV agree."""

    title: str
    rows: tuple[SummaryRow, ...]
    failed: tuple[SummaryRow, ...]
    environments: tuple[EnvBlock, ...]
    weight_notes: tuple[str, ...]
    time: GuideTable
    cost: GuideTable
    vram: tuple[VramRow, ...]
    rental: tuple[RentalRates, ...]
    answers: tuple[AnswerTable, ...]  # which GPU to rent, per workload: the report opens with it
    points: tuple[CostPoint, ...]
    scenarios: tuple[ScenarioInfo, ...]
    warnings: tuple[tuple[str, str], ...]
    kbench_versions: tuple[str, ...]
    started_at: str
    finished_at: str
    models: tuple[ModelRow, ...] = ()
    model_notes: tuple[str, ...] = ()
    built: tuple[BuiltRow, ...] = ()  # what the records built, where they say (bench.report.architecture)

    @property
    def ok_count(self) -> int:
        return sum(1 for r in self.rows if r.status == "ok")


def build_report_data(records: Sequence[RunRecord], catalog: Catalog, numbers: ReportNumbers, title: str) -> ReportData:
    """Assemble every table the renderers need from records, the catalog and the cost room's numbers.

    ``numbers`` holds the answers and the guide tables' estimates (:func:`bench.cost.report_numbers.report_numbers`).
    """
    estimates = numbers.estimates
    rows = summary_rows(records, catalog)
    time, cost = time_table(estimates, catalog), cost_table(estimates, catalog)
    models = model_comparison(records, catalog)
    return ReportData(
        title=title,
        rows=tuple(rows),
        failed=tuple(r for r in rows if r.status != "ok"),
        environments=tuple(environment_blocks(records)),
        weight_notes=tuple(weight_notes(records)),
        time=time,
        cost=cost,
        vram=tuple(vram_table(estimates, catalog)),
        rental=tuple(rental_rates(catalog, {e.gpu_id for e in estimates})),
        answers=tuple(answer_tables(numbers.answers, ANSWER_ROWS)),
        points=tuple(focus_points(numbers.answers)),
        scenarios=tuple(scenario_infos(records)),
        warnings=tuple(run_warnings(records)),
        kbench_versions=tuple(sorted({r.kbench_version for r in records})),
        started_at=min((r.started_at for r in records), default=""),
        finished_at=max((r.finished_at for r in records), default=""),
        models=tuple(models),
        model_notes=tuple(table_notes(models)),
        built=tuple(built_rows(records)),
    )


__all__ = ["ReportData", "build_report_data"]

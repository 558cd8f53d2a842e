"""The numbers a report shows that need projecting, ranking or simulating, computed here and handed to it.

``bench.report`` renders; it does not project a workload onto a GPU, rank GPUs or run the queue simulator. A
command (or a test) calls :func:`report_numbers` once and passes the result to
:func:`bench.report.bundle.build_report`, so several renderings share one projection and one simulation. The
report's opening answer ("which GPU to rent") is :func:`bench.cost.recommendation.recommend_gpus`, the function
``kbench recommend`` prints, under the same price book.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.cost.guide import real_gpu_records
from bench.cost.guide_workloads import answer_workloads, guide_estimates
from bench.cost.prices.book import PriceBook
from bench.cost.projection import Estimate
from bench.cost.recommendation import Recommendation, recommend_gpus
from bench.cost.serving.section import ServingSection, build_serving
from bench.results import RunRecord
from bench.results.serving import ServeRecord, SloRecord

ANSWER_ROWS = 3  # GPUs per workload in the report's answer; the full ranking is ``kbench recommend``'s


@dataclass(frozen=True)
class ReportNumbers:
    """The answer per workload, the guide workloads' estimates, and the serving section (None: nothing served)."""

    estimates: tuple[Estimate, ...]
    serving: ServingSection | None = None
    answers: tuple[Recommendation, ...] = ()


def report_numbers(
    records: Sequence[RunRecord],
    book: PriceBook,
    *,
    gpu_ids: Iterable[str] | None = None,
    serve_records: Sequence[ServeRecord | SloRecord] = (),
    slo_p99_s: float | None = None,
) -> ReportNumbers:
    """Rank GPUs per workload, project the guide workloads and simulate serving them at the SLO.

    Args:
        records: Isolated-run records; full-size GPU ones replace projections where they match.
        book: The command's price book: the report's dollars are the policy's prices, as everywhere.
        gpu_ids: Catalog GPU ids for the guide tables and the answer; ``None`` means every GPU in the catalog.
        serve_records: Serving results whose measured points join the simulated curves.
        slo_p99_s: The p99 latency SLO of the "$ per image at SLO" table (default: the serving records').

    Without isolated records (a report of serving results alone) nothing is projected or ranked
    (:func:`serving_numbers`).
    """
    if not records:
        return serving_numbers(serve_records, slo_p99_s)
    gpus = list(gpu_ids) if gpu_ids is not None else None
    estimates = guide_estimates(records, book.priced, gpu_ids=gpus)
    real = real_gpu_records(records)
    answers = tuple(
        recommend_gpus(w, book, real, gpu_ids=gpus, memory_auto=True, must_fit=False) for w in answer_workloads(records)
    )
    serving = build_serving(records, serve_records, estimates, slo_p99_s)
    return ReportNumbers(tuple(estimates), serving, answers)


def serving_numbers(serve_records: Sequence[ServeRecord | SloRecord], slo_p99_s: float | None = None) -> ReportNumbers:
    """The numbers of a report of serving results alone: the serving section, each server beside the simulator's
    prediction from its own calls. Nothing is projected, so no price book is needed."""
    return ReportNumbers((), build_serving((), serve_records, (), slo_p99_s))


__all__ = ["ANSWER_ROWS", "ReportNumbers", "report_numbers", "serving_numbers"]

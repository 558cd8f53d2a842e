"""The one answer to "which GPU should I rent for this workload": ranked rental rows and the notes behind them.

``kbench recommend`` prints it, ``--slo-p99`` serves its rows at a latency target, and the report opens with it
for each workload it covers; all three call :func:`recommend_gpus` with the same price book, so a GPU ranks
the same and costs the same wherever it is shown. Ranking (:mod:`bench.cost.rental`): $ per 1000 images, the
session's figure when a session is given; stale prices after fresh ones; ties where the projection's intervals
overlap the cheapest row's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost.costs import Session
from bench.cost.prices.book import PriceBook
from bench.cost.projection import MeasuredIndex, measured_index
from bench.cost.recommend import Constraints, NoGpuFits, recommend
from bench.cost.rental import RentalRow, rental_rows
from bench.results import RunRecord
from bench.results.registered import not_used_reasons
from bench.spec import Workload
from bench.text import first_few


@dataclass(frozen=True)
class Recommendation:
    """Every GPU that meets the constraints for one workload, cheapest first, and what the figures rest on.

    ``rows`` is empty when no GPU meets them; ``reason`` then says which constraint excluded how many.
    """

    workload: Workload
    memory_auto: bool
    rows: tuple[RentalRow, ...]
    notes: tuple[str, ...]
    index: MeasuredIndex
    reason: str | None = None


def recommend_gpus(
    work: Workload,
    book: PriceBook,
    records: Sequence[RunRecord] = (),
    *,
    constraints: Constraints | None = None,
    gpu_ids: Sequence[str] | None = None,
    memory_auto: bool = False,
    session: Session | None = None,
    must_fit: bool = True,
    tf32: bool = False,
) -> Recommendation:
    """Rank the price book's GPUs for ``work`` (measured where records match, projected elsewhere).

    Args:
        work: The workload; with ``memory_auto`` its memory option is chosen per GPU (fastest that fits).
        book: The command's price book: every $ here is its policy's price.
        records: Results whose measurements replace projections where the workload and GPU match.
        constraints: Latency, price and headroom limits (default: none beyond fitting in VRAM, priced).
        gpu_ids: Only these catalog GPUs (default: all).
        session: Rank by a session's full cost (load, warmup, billing) instead of the steady state.
        must_fit: Raise :class:`NoGpuFits` when no GPU qualifies; False returns no rows and the reason.
        tf32: Project an fp32 workload's matmuls on TF32 tensor cores.
    """
    c = constraints or Constraints(price_policy=book.policy.describe())
    catalog = book.priced
    try:
        ranked = recommend(
            work, catalog, c, records, list(gpu_ids) if gpu_ids else None, memory_auto=memory_auto, tf32=tf32
        )
    except NoGpuFits as exc:
        if must_fit:
            raise
        return Recommendation(work, memory_auto, (), (book.note(),), MeasuredIndex([]), str(exc))
    index = MeasuredIndex(measured_index(records, catalog))
    rows = rental_rows(ranked, work, book.choices, book.spot, session=session, index=index)
    notes = [book.note()]
    notes += [
        f"projected: {k}" for k in sorted({r.estimate.calibration for r in rows if r.estimate.source == "projected"})
    ]
    notes += not_used_reasons(records, work.model)  # records of this model that built another architecture
    if session is not None:  # one note per basis, naming its GPUs, not one per GPU
        by_basis: dict[str, list[str]] = {}
        for r in rows:
            by_basis.setdefault(r.overhead.basis, []).append(r.estimate.gpu_id)
        notes += [f"session overhead ({first_few(ids, 4)}): {basis}" for basis, ids in sorted(by_basis.items())]
    return Recommendation(work, memory_auto, tuple(rows), tuple(notes), index)


__all__ = ["Recommendation", "recommend_gpus"]

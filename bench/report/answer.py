"""The report's opening answer, "which GPU should I rent", as rows of text ready for the HTML and markdown.

The ranking is :class:`bench.cost.recommendation.Recommendation`, the one ``kbench recommend`` prints; this
module only words it: each figure with its interval and basis (measured or projected), each price with its
provider, date and age, stale prices marked (they rank last, as in ``recommend``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost.recommendation import Recommendation
from bench.cost.rental import RentalRow
from bench.report.format import fmt_num

MEMORY_WORDS = {
    "none": "on the GPU",
    "model_cpu_offload": "model CPU offload",
    "sequential_cpu_offload": "sequential CPU offload",
    "attention_slicing": "attention slicing",
}
ANSWER_HEADERS = ("GPU", "memory option", "s / image", "$ / 1000 images", "price", "basis")


@dataclass(frozen=True)
class AnswerRow:
    """One GPU of an answer, every cell as text (the HTML adds the headers as labels on narrow screens)."""

    gpu: str
    memory: str
    seconds: str
    usd: str
    price: str
    price_detail: str  # provider, tier, date, billing, source: the cell's tooltip and the markdown footnote
    basis: str  # measured / projected
    stale: bool
    tied: bool

    def cells(self) -> tuple[str, ...]:
        """The row as text, a tie marked on the GPU (its cost interval overlaps the cheapest GPU's)."""
        return (self.gpu + (" (tie)" if self.tied else ""), self.memory, self.seconds, self.usd, self.price, self.basis)


@dataclass(frozen=True)
class AnswerTable:
    """The cheapest GPUs for one workload, or why there is none."""

    workload: str
    rows: tuple[AnswerRow, ...]
    more: int  # GPUs that fit but are not shown
    reason: str | None
    projected_note: str | None  # how the projected figures were calibrated, once per table


def _usd(x: float) -> str:
    """Dollars as people read them: cents from $1 up ($1.00, $12.40), three significant digits below ($0.144)."""
    return f"${x:,.2f}" if x >= 1 else f"${fmt_num(x)}"


def _band(mid: float, band: tuple[float, float] | None, money: bool = False) -> str:
    f = _usd if money else fmt_num
    return f"{f(mid)} ({f(band[0])}–{f(band[1])})" if band else f(mid)


def _row(r: RentalRow) -> AnswerRow:
    e, p = r.estimate, r.price
    usd = "no price" if r.cost is None else _band(r.cost.ranking_usd_per_1k_images, r.usd_interval, money=True)
    if p is None:
        price, detail = "no price", "no price in the catalog or the price cache"
    else:
        age = f"{p.age_days} days old" if p.age_days else "today"
        third = p.source_kind == "aggregator"  # read on a third party's page, not the provider's own
        price = f"${p.usd_per_hour:.2f}/h {p.provider}{' (third-party)' if third else ''}, {p.date[:10]}"
        price += " STALE" if p.stale else ""
        detail = f"{p.provider}, {p.tier_label}, {p.date} ({age}); billed {p.billing.label}; {p.source_text}"
    return AnswerRow(
        gpu=e.gpu_name,
        memory=MEMORY_WORDS.get(e.memory, e.memory),
        seconds=_band(e.s_per_image, r.s_interval),
        usd=usd,
        price=price,
        price_detail=detail,
        basis=e.source,
        stale=p is not None and p.stale,
        tied=r.tied,
    )


def workload_title(answer: Recommendation) -> str:
    w = answer.workload
    batch = f"batch {w.batch_size}" + (f"x{w.images_per_prompt}" if w.images_per_prompt > 1 else "")
    return f"{w.model} {w.task} {w.width}x{w.height}, {w.steps} steps, {w.dtype}, {batch}"


def answer_tables(answers: Sequence[Recommendation], shown: int) -> list[AnswerTable]:
    """The first ``shown`` GPUs of each answer, worded; the rest counted."""
    out = []
    for a in answers:
        rows = a.rows[:shown]
        calibrations = sorted({r.estimate.calibration for r in rows if r.estimate.source == "projected"})
        note = "projected: " + "; ".join(calibrations) if calibrations else None
        out.append(
            AnswerTable(workload_title(a), tuple(_row(r) for r in rows), len(a.rows) - len(rows), a.reason, note)
        )
    return out


__all__ = ["ANSWER_HEADERS", "AnswerRow", "AnswerTable", "answer_tables", "workload_title"]

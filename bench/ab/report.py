"""The result of an A/B run, rebuilt from its results file alone: comparison, parity, order and noise.

Everything here reads the records (``side`` and ``ab_round`` fields), so ``kbench ab --recompare FILE``, a
plot, or another threshold gives the same answer later as on the day. The comparison is the ordinary grouped
one of :func:`bench.compare.compare_records`: each side's records of a run key are pooled, one group per
child process, so the between-process noise is in the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.ab.parity import ParityReport, check_parity
from bench.ab.sides import AbError
from bench.compare.engine import CompareReport, compare_records
from bench.compare.noise import noise_floor
from bench.compare.stats import CONFIDENCE, DEFAULT_SEED
from bench.compare.thresholds import DEFAULT_THRESHOLDS, ThresholdSet
from bench.results import RunRecord


@dataclass(frozen=True)
class AbReport:
    """``kbench ab``'s answer: the base-vs-head comparison with what it rests on."""

    compare: CompareReport
    parity: ParityReport
    order: tuple[tuple[int, str], ...]  # (round, side) of each record, in the order measured
    rounds: int
    noise: dict[str, float | None]  # run key -> spread between processes of one side (larger side)
    sides: tuple[str, ...] = ()  # one line per side: revision, interpreter, code under test

    @property
    def has_regression(self) -> bool:
        return self.compare.has_regression


def split_sides(records: Sequence[RunRecord], source: str = "results") -> tuple[list[RunRecord], list[RunRecord]]:
    """``(base, head)`` records; refuses a file that is not an A/B results file."""
    base = [r for r in records if r.side == "base"]
    head = [r for r in records if r.side == "head"]
    if not base or not head:
        missing = "base" if not base else "head"
        raise AbError(f"{source}: no records with side {missing!r}; an A/B results file comes from kbench ab")
    return base, head


def ab_report(
    records: Sequence[RunRecord],
    thresholds: ThresholdSet = DEFAULT_THRESHOLDS,
    *,
    confidence: float = CONFIDENCE,
    seed: int = DEFAULT_SEED,
    sides: Sequence[str] = (),
    source: str = "results",
) -> AbReport:
    """Compare the pooled head records with the pooled base records, and check parity between them."""
    base, head = split_sides(records, source)
    ordered = sorted((r for r in records if r.side in ("base", "head")), key=lambda r: (r.started_at, r.ab_round or 0))
    return AbReport(
        compare=compare_records(base, head, thresholds, confidence=confidence, seed=seed),
        parity=check_parity(records),
        order=tuple((r.ab_round or 0, r.side or "?") for r in ordered),
        rounds=max((r.ab_round or 0 for r in records), default=0),
        noise=noise_floor(base, head),
        sides=tuple(sides),
    )


__all__ = ["AbReport", "ab_report", "split_sides"]

"""The noise floor measured in a set of results: how far processes of the same code disagree.

Several records of one run key on one side were measured by separate processes (``kbench ab`` rounds,
repeated ``kbench run`` invocations). The spread of their medians, ``max / min - 1``, is the between-process
noise that a single baseline cannot show and that the grouped bootstrap carries into the interval: a change
much smaller than it cannot be told apart from the runner. Pure; no I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.results import RunRecord


def process_medians(records: Sequence[RunRecord]) -> dict[str, list[float]]:
    """Median seconds per image of each ok record, per run key, in record order."""
    out: dict[str, list[float]] = {}
    for r in records:
        if not r.ok:
            continue
        samples = r.timing.per_image_s if r.timing is not None and r.timing.per_image_s else []
        if samples:
            out.setdefault(r.run_key, []).append(statistics.median(samples))
        elif r.summary is not None:
            out.setdefault(r.run_key, []).append(r.summary.median_s_per_image)
    return out


def process_spread(records: Sequence[RunRecord]) -> dict[str, float | None]:
    """``max / min - 1`` of the per-process medians of each run key; None with fewer than two processes."""
    return {
        key: (max(meds) / min(meds) - 1.0 if len(meds) > 1 and min(meds) > 0 else None)
        for key, meds in process_medians(records).items()
    }


def noise_floor(*sides: Sequence[RunRecord]) -> dict[str, float | None]:
    """Per run key, the larger process spread of the given sides (None where no side has two processes)."""
    floor: dict[str, float | None] = {}
    for records in sides:
        for key, spread in process_spread(records).items():
            known = [s for s in (floor.get(key), spread) if s is not None]
            floor[key] = max(known) if known else None
    return floor


def typical(floor: dict[str, float | None]) -> float | None:
    """The median noise floor over runs (None when no run has one)."""
    known = [v for v in floor.values() if v is not None]
    return statistics.median(known) if known else None


__all__ = ["noise_floor", "process_medians", "process_spread", "typical"]

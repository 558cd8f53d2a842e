"""Interleaved measuring of the two sides: ABBA order across rounds, one fresh child process per call.

Round 1 runs every run of the scenario on base then head, round 2 on head then base, and so on. Drift that is
linear in time (a runner warming up, a neighbour job starting) then weighs on both sides equally over each
pair of rounds, which a baseline measured earlier, or all of A then all of B, cannot offer. Each record is
appended to the one results file as it ends, tagged with its ``side`` and ``ab_round``, by the same sweep loop
as ``kbench run``'s, so a Ctrl-C or SIGTERM keeps every finished record and is judged interrupted alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.ab.sides import Side
from bench.measure.executors.base import Job
from bench.measure.executors.driver import drive_jobs
from bench.measure.executors.sequential import LocalExecutor
from bench.measure.runner import SweepOutcome
from bench.results import RunRecord
from bench.spec import RunSpec

AbProgress = Callable[[str, int, int, RunSpec, Side, int, RunRecord | None], None]


def abba_order(rounds: int, names: Sequence[str] = ("base", "head")) -> list[tuple[int, tuple[str, str]]]:
    """``[(1, (base, head)), (2, (head, base)), (3, (base, head)), ...]``: each round's side order."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    first, second = names
    return [(r, (first, second) if r % 2 == 1 else (second, first)) for r in range(1, rounds + 1)]


def side_spec(spec: RunSpec, side: Side) -> RunSpec:
    """The spec one side runs: the scenario's, with that side's ``hub`` directories in front."""
    return spec.model_copy(update={"hub": {**spec.hub, **side.hub}}) if side.hub else spec


@dataclass
class AbOutcome(SweepOutcome):
    """What the interleaved runs produced: every record in the order measured, and how the loop ended."""

    @property
    def order(self) -> list[tuple[int, str]]:
        """``(round, side)`` of each record, in the order measured."""
        return [(r.ab_round or 0, r.side or "?") for r in self.records]


def run_interleaved(
    specs: Sequence[RunSpec],
    sides: dict[str, Side],
    rounds: int,
    results_path: Path,
    *,
    timeout_s: float | None = None,
    progress: AbProgress | None = None,
) -> AbOutcome:
    """Measure every spec on both sides, ``rounds`` times, in ABBA order; append each record as it ends.

    The rounds are jobs of the one sweep loop (:func:`~bench.measure.executors.driver.drive_jobs`, run one after
    another): each runs its side's spec in that side's interpreter, environment and worktree, and its record is
    tagged with the side, the round and the key of the kbench running ab (a side on another revision may name
    its runs differently).

    Args:
        specs: The scenario's runs.
        sides: ``{"base": Side, "head": Side}``.
        rounds: Interleaving rounds; each runs every spec once per side.
        results_path: The one results file both sides are written to.
        timeout_s: Per-run limit overriding the specs' own ``timeout_s``.
        progress: Called with ``("start"|"end", index, total, spec, side, round, record)``.
    """
    plan = [(r, spec, sides[name]) for r, order in abba_order(rounds, tuple(sides)) for spec in specs for name in order]
    jobs = [
        Job(
            side_spec(spec, side),
            tag={"run_key": spec.run_key, "side": side.name, "ab_round": rnd},
            python=side.python,
            env=side.env,
            cwd=side.worktree,
        )
        for rnd, spec, side in plan
    ]
    where = {id(job): (spec, side, rnd) for job, (rnd, spec, side) in zip(jobs, plan, strict=True)}
    show = progress or (lambda *args: None)
    seen = {"start": 0, "end": 0}

    def by_side(event: str, index: int, total: int, job: Job, record: RunRecord | None) -> None:
        spec, side, rnd = where[id(job)]
        seen[event] += 1  # the plan's position: jobs run in order, one at a time
        show(event, seen[event], total, spec, side, rnd, record)

    outcome = AbOutcome(results_path=results_path)
    drive_jobs(LocalExecutor(), jobs, results_path, timeout_s=timeout_s, progress=by_side, outcome=outcome)
    return outcome


__all__ = ["AbOutcome", "AbProgress", "abba_order", "run_interleaved", "side_spec"]

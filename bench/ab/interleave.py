"""Interleaved measuring of the two sides: ABBA order across rounds, one fresh child process per call.

Round 1 runs every run of the scenario on base then head, round 2 on head then base, and so on. Drift that is
linear in time (a runner warming up, a neighbour job starting) then weighs on both sides equally over each
pair of rounds, which a baseline measured earlier, or all of A then all of B, cannot offer. Each record is
appended to the one results file as it ends, tagged with its ``side`` and ``ab_round``; a Ctrl-C or SIGTERM
keeps every finished record, as in ``kbench run``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.ab.sides import Side
from bench.measure.interrupts import SweepGuard
from bench.measure.runner import SweepOutcome, parent_record, run_in_child, static_skip_reason
from bench.results import ResultsLock, RunRecord, utc_now_iso
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

    Args:
        specs: The scenario's runs.
        sides: ``{"base": Side, "head": Side}``.
        rounds: Interleaving rounds; each runs every spec once per side.
        results_path: The one results file both sides are written to.
        timeout_s: Per-run limit overriding the specs' own ``timeout_s``.
        progress: Called with ``("start"|"end", index, total, spec, side, round, record)``.
    """
    outcome = AbOutcome(results_path=results_path)
    plan = [(r, spec, sides[name]) for r, order in abba_order(rounds, tuple(sides)) for spec in specs for name in order]
    show = progress or (lambda *args: None)
    with ResultsLock(results_path), SweepGuard() as guard:
        for index, (rnd, spec, side) in enumerate(plan, start=1):
            if guard.stopping:
                break
            with contextlib.suppress(OSError):
                show("start", index, len(plan), spec, side, rnd, None)
            run_spec = side_spec(spec, side)
            reason = static_skip_reason(run_spec)
            if reason:
                record = parent_record(run_spec, "skipped", reason, utc_now_iso())
            else:
                record = run_in_child(
                    run_spec,
                    timeout_s=timeout_s or run_spec.timeout_s,
                    guard=guard,
                    python=side.python,
                    extra_env=side.env,
                    cwd=side.worktree,
                )
            # The key of the kbench running ab: a side on another revision may name its runs differently.
            record = record.model_copy(update={"run_key": spec.run_key, "side": side.name, "ab_round": rnd})
            if not outcome.keep(record):
                break
            with contextlib.suppress(OSError):
                show("end", index, len(plan), spec, side, rnd, record)
        finished = [r for r in outcome.records if r.status != "interrupted"]
        outcome.interrupted = guard.stopping and len(finished) < len(plan)
        outcome.exit_code = guard.exit_code() if outcome.interrupted else 0
    return outcome


__all__ = ["AbOutcome", "AbProgress", "abba_order", "run_interleaved", "side_spec"]

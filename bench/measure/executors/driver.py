"""The one writer of a parallel sweep: takes the lock, skips recorded runs, appends records as runs end.

A backend (:mod:`~bench.measure.executors.gpus`, :mod:`~bench.measure.executors.ray`) executes the runs and
streams events back; only this driver touches the results file, one atomic append per record, in the order the
runs finish. Signals are those of the sequential sweep (:mod:`bench.measure.interrupts`): the first Ctrl-C
lets running runs finish and starts no new one; a second Ctrl-C, SIGTERM or SIGHUP stop them now (recorded
``interrupted``, retried by ``--resume``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from functools import partialmethod
from pathlib import Path

from bench.measure.executors.base import Backend, Event, FanoutGuard
from bench.measure.runner import ProgressCallback, SweepOutcome, parent_record, static_skip_reason
from bench.results import ResultsLock, RunRecord, completed_keys, utc_now_iso
from bench.spec import RunSpec


def drive(
    backend: Backend,
    specs: Sequence[RunSpec],
    results_path: str | Path,
    *,
    resume: bool = False,
    timeout_s: float | None = None,
    images_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> SweepOutcome:
    """Run ``specs`` through ``backend``, appending each record here as it arrives."""
    backend.check()
    results_path = Path(results_path)
    outcome = SweepOutcome(results_path=results_path)
    show = progress or (lambda *args: None)
    counts = {"start": 0, "end": 0}

    def notify(event: str, total: int, spec: RunSpec, record: RunRecord | None) -> None:
        counts[event] += 1
        with contextlib.suppress(OSError):  # a terminal closed under the sweep (SIGHUP) must not end it
            show(event, counts[event], total, spec, record)

    images = images_dir.resolve() if images_dir is not None else None  # workers may run elsewhere
    with ResultsLock(results_path):
        done = completed_keys(results_path) if resume else set()
        todo = [s for s in specs if s.run_key not in done]
        outcome.resumed_skips = len(specs) - len(todo)
        total = len(todo)
        runnable: list[RunSpec] = []
        for spec in todo:
            reason = static_skip_reason(spec)
            if reason is None:
                runnable.append(spec)
                continue
            notify("start", total, spec, None)
            if not outcome.keep(parent_record(spec, "skipped", reason, utc_now_iso())):
                return outcome
            notify("end", total, spec, outcome.records[-1])
        if not runnable:
            return outcome
        guard = FanoutGuard()
        with backend.session(), guard:
            events = backend.stream(runnable, guard, timeout_s, images)
            try:
                for event in events:
                    if event.record is None:
                        notify("start", total, event.spec, None)
                        continue
                    if not outcome.keep(event.record):
                        guard.abort = True  # nothing more can be kept: stop what runs
                        guard.stop_child()
                        break
                    if event.final:
                        notify("end", total, event.spec, event.record)
            finally:
                close = getattr(events, "close", None)
                if close is not None:
                    close()  # cancels what is still outstanding
            finished = [r for r in outcome.records if r.status != "interrupted"]
            outcome.interrupted = guard.stopping and len({r.run_key for r in finished}) < total
            outcome.exit_code = guard.exit_code() if outcome.interrupted else 0
    return outcome


class DrivenExecutor:
    """An executor whose runs go through :func:`drive`; a backend supplies ``session``, ``stream`` and
    optionally ``check`` (a refusal before the results file is locked)."""

    name: str

    def check(self) -> None:
        """Raise :class:`~bench.errors.KbenchError` when this executor cannot run here at all."""

    def session(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def stream(
        self, todo: Sequence[RunSpec], guard: FanoutGuard, timeout_s: float | None, images_dir: Path | None
    ) -> Iterator[Event]:
        raise NotImplementedError

    # drive(self, ...): the same parameters as every executor's sweep (and run_sweep), declared once
    sweep = partialmethod(drive)


__all__ = ["DrivenExecutor", "drive"]

"""The one sweep loop and the one writer of its results file: takes the lock, skips recorded runs, appends
records as runs end, and decides once whether the sweep was interrupted.

A backend (:mod:`~bench.measure.executors.sequential`, :mod:`~bench.measure.executors.gpus`,
:mod:`~bench.measure.executors.ray`) executes the jobs and streams events back; only this driver touches the
results file, one atomic append per record, in the order the jobs finish. ``kbench run`` gives it the
scenario's runs, ``kbench ab`` the interleaved rounds of both sides (:mod:`bench.ab.interleave`). Signals are
those of :mod:`bench.measure.interrupts`: the first Ctrl-C lets running jobs finish and starts no new one; a
second Ctrl-C, SIGTERM or SIGHUP stop them now (recorded ``interrupted``, retried by ``--resume``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from functools import partialmethod
from pathlib import Path

from bench.measure.executors.base import Backend, Event, FanoutGuard, Job
from bench.measure.runner import ProgressCallback, SweepOutcome, parent_record, static_skip_reason
from bench.results import ResultsLock, RunRecord, completed_keys, utc_now_iso
from bench.spec import RunSpec

JobProgress = Callable[[str, int, int, Job, RunRecord | None], None]


def drive_jobs(
    backend: Backend,
    jobs: Sequence[Job],
    results_path: str | Path,
    *,
    resume: bool = False,
    timeout_s: float | None = None,
    images_dir: Path | None = None,
    progress: JobProgress | None = None,
    outcome: SweepOutcome | None = None,
) -> SweepOutcome:
    """Run ``jobs`` through ``backend``, appending each record (with its job's tag) here as it arrives.

    The sweep is interrupted when a signal stopped it before every job had a final record that is not
    ``interrupted``; its exit code is then 128 + that signal. ``outcome`` may be a subclass to fill.
    """
    backend.check()
    results_path = Path(results_path)
    outcome = outcome or SweepOutcome(results_path=results_path)
    show = progress or (lambda *args: None)
    counts = {"start": 0, "end": 0}

    def notify(event: str, total: int, job: Job, record: RunRecord | None) -> None:
        counts[event] += 1
        with contextlib.suppress(OSError):  # a terminal closed under the sweep (SIGHUP) must not end it
            show(event, counts[event], total, job, record)

    def keep(job: Job, record: RunRecord) -> bool:
        return outcome.keep(record.model_copy(update=dict(job.tag)) if job.tag else record)

    images = images_dir.resolve() if images_dir is not None else None  # workers may run elsewhere
    with ResultsLock(results_path):
        done = completed_keys(results_path) if resume else set()
        todo = [job for job in jobs if job.key not in done]
        outcome.resumed_skips = len(jobs) - len(todo)
        total = len(todo)
        runnable: list[Job] = []
        for job in todo:
            reason = static_skip_reason(job.spec)
            if reason is None:
                runnable.append(job)
                continue
            notify("start", total, job, None)
            if not keep(job, parent_record(job.spec, "skipped", reason, utc_now_iso())):
                return outcome
            notify("end", total, job, outcome.records[-1])
        if not runnable:
            return outcome
        finished = total - len(runnable)  # final records that are not interrupted
        guard = FanoutGuard()
        with backend.session(), guard:
            events = backend.stream(runnable, guard, timeout_s, images)
            try:
                for event in events:
                    if event.record is None:
                        notify("start", total, event.job, None)
                        continue
                    if not keep(event.job, event.record):
                        guard.abort = True  # nothing more can be kept: stop what runs
                        guard.stop_child()
                        break
                    if event.final:
                        finished += event.record.status != "interrupted"
                        notify("end", total, event.job, outcome.records[-1])
            finally:
                close = getattr(events, "close", None)
                if close is not None:
                    close()  # cancels what is still outstanding
            outcome.interrupted = guard.stopping and finished < total
            outcome.exit_code = guard.exit_code() if outcome.interrupted else 0
    return outcome


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
    """:func:`drive_jobs` for a scenario's runs, one job each, with the spec-level progress callback."""
    show = progress

    def by_spec(event: str, index: int, total: int, job: Job, record: RunRecord | None) -> None:
        if show is not None:
            show(event, index, total, job.spec, record)

    return drive_jobs(
        backend,
        [Job(spec) for spec in specs],
        results_path,
        resume=resume,
        timeout_s=timeout_s,
        images_dir=images_dir,
        progress=by_spec,
    )


class DrivenExecutor:
    """An executor whose runs go through :func:`drive`; a backend supplies ``session``, ``stream`` and
    optionally ``check`` (a refusal before the results file is locked)."""

    name: str

    def check(self) -> None:
        """Raise :class:`~bench.errors.KbenchError` when this executor cannot run here at all."""

    def session(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def stream(
        self, todo: Sequence[Job], guard: FanoutGuard, timeout_s: float | None, images_dir: Path | None
    ) -> Iterator[Event]:
        raise NotImplementedError

    # drive(self, ...): the same parameters as every executor's sweep, declared once
    sweep = partialmethod(drive)


__all__ = ["DrivenExecutor", "JobProgress", "drive", "drive_jobs"]

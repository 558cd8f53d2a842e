"""``--executor local``: one job after another on this machine, each in a fresh child process.

The backend of ``kbench run`` by default and of ``kbench ab`` (whose jobs carry a side's interpreter,
environment and worktree). The loop, the results file and the rule for an interrupted sweep are the
driver's (:mod:`~bench.measure.executors.driver`), shared with the parallel backends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.measure.executors.base import Event, FanoutGuard, Job
from bench.measure.executors.driver import DrivenExecutor
from bench.measure.runner import run_in_child


class LocalExecutor(DrivenExecutor):
    """Runs the jobs in order, one at a time; the first Ctrl-C lets the running one finish and starts no more."""

    name = "local"

    def session(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def stream(
        self, todo: Sequence[Job], guard: FanoutGuard, timeout_s: float | None, images_dir: Path | None
    ) -> Iterator[Event]:
        child_guard = guard.worker()
        for job in todo:
            if guard.stopping:
                return
            yield Event("start", job)
            record = run_in_child(
                job.spec,
                timeout_s=timeout_s or job.spec.timeout_s,
                images_dir=images_dir,
                guard=child_guard,
                python=job.python,
                extra_env=job.env,
                cwd=job.cwd,
            )
            yield Event("end", job, record)


run_sweep = LocalExecutor().sweep
"""Run every spec here, one after another (skipping recorded ones with ``resume``): ``kbench run``'s default."""


__all__ = ["LocalExecutor", "run_sweep"]

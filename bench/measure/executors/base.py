"""The executor interface: one unit of work, several ways to schedule it.

The unit is always the same: run one :class:`~bench.spec.RunSpec` in a fresh child process
(:func:`bench.measure.runner.run_in_child`) and get its :class:`~bench.results.RunRecord` back. Executors differ
only in where and how many units run at once; the driver that called them is the one process that appends to
the results file (:mod:`bench.measure.executors.driver`), so resume, the one-writer lock and atomic appends
work exactly as for the sequential sweep.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from bench.measure.device import PINNED_VARIABLE
from bench.measure.interrupts import SweepGuard
from bench.measure.runner import ProgressCallback, SweepOutcome
from bench.results import RunRecord
from bench.spec import RunSpec

EXECUTOR_NAMES = ("local", "gpus", "ray")
Placement = dict[str, str | int | None]


class Executor(Protocol):
    """Runs a sweep: every spec once (recorded ones skipped with ``resume``), records appended as runs end."""

    name: str

    def sweep(
        self,
        specs: Sequence[RunSpec],
        results_path: str | Path,
        *,
        resume: bool = False,
        timeout_s: float | None = None,
        images_dir: Path | None = None,
        progress: ProgressCallback | None = None,
    ) -> SweepOutcome: ...


@dataclass(frozen=True, eq=False)
class Job:
    """One unit of a sweep: ``spec`` run in a fresh child, and the fields ``tag`` sets on its record.

    ``python``, ``env`` and ``cwd`` run the child in another interpreter, environment or directory (one side of
    ``kbench ab``; the sequential backend only). The driver counts jobs, not run keys, so two jobs may share a
    key (both sides of an A/B round, tagged with their ``side`` and ``ab_round``).
    """

    spec: RunSpec
    tag: Mapping[str, object] = field(default_factory=dict)
    python: str | None = None
    env: Mapping[str, str] | None = None
    cwd: Path | None = None

    @property
    def key(self) -> str:
        """The run key its record carries (``--resume`` skips a job whose key is recorded)."""
        return str(self.tag.get("run_key", self.spec.run_key))


@dataclass(frozen=True)
class Event:
    """What a backend reports to the driver: a job started, or a job ended with its record."""

    kind: Literal["start", "end"]
    job: Job
    record: RunRecord | None = None
    final: bool = True  # False for the record of an attempt that runs again (a worker died): kept, not counted

    @property
    def spec(self) -> RunSpec:
        return self.job.spec


class Backend(Protocol):
    """A way to execute jobs (one at a time, per GPU, on Ray); the driver owns the results file, the lock and the
    signals."""

    name: str

    def check(self) -> None:
        """Refuse before the results file is locked when this backend cannot run here at all (exit code 2)."""
        ...

    def session(self) -> AbstractContextManager[None]:
        """Connect to (or start) whatever executes the units; entered before the signal handlers are installed."""
        ...

    def stream(
        self, todo: Sequence[Job], guard: FanoutGuard, timeout_s: float | None, images_dir: Path | None
    ) -> Iterator[Event]:
        """Execute ``todo``, yielding events as they happen; stop taking new jobs once ``guard.stopping``."""
        ...


class FanoutGuard(SweepGuard):
    """A :class:`SweepGuard` for several runs at once: an abort reaches the child of every worker.

    Each worker thread passes its own :meth:`worker` guard to ``run_in_child``; a second Ctrl-C or SIGTERM
    kills every running child (each recorded ``interrupted``), the first Ctrl-C only stops new runs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.workers: list[SweepGuard] = []

    def worker(self) -> SweepGuard:
        guard = SweepGuard()
        self.workers.append(guard)
        if self.abort:
            self._forward(guard)
        return guard

    def _forward(self, guard: SweepGuard) -> None:
        guard.stop_signal = self.stop_signal
        guard.abort = True
        guard.stop_child()

    def stop_child(self) -> None:
        for guard in list(self.workers):
            self._forward(guard)


def pinned_env(visible: str, device: str) -> dict[str, str]:
    """Variables that pin a child to the GPU(s) ``visible`` names while its spec keeps ``device``.

    The child then runs on ``cuda:0`` (:func:`bench.measure.device.local_device`), the record keeps the device
    the user asked for, and ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` makes the ids mean what NVML and ``nvidia-smi`` say.
    """
    return {"CUDA_VISIBLE_DEVICES": visible, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", PINNED_VARIABLE: device}


def base_placement(executor: str) -> Placement:
    """The placement every executor records: its name and the host the driver or worker runs on."""
    return {"executor": executor, "hostname": socket.gethostname()}


__all__ = [
    "EXECUTOR_NAMES",
    "Backend",
    "Event",
    "Executor",
    "FanoutGuard",
    "Job",
    "Placement",
    "base_placement",
    "pinned_env",
]

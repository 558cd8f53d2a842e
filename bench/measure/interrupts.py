"""How a sweep answers signals: stop between runs, or stop now, and never lose a finished record.

* first ``SIGINT`` (Ctrl-C): the current run finishes and is recorded, then the sweep stops;
* second ``SIGINT``: the current run's child is killed and the run recorded as ``interrupted``;
* ``SIGTERM`` (a CI job cancelled) and ``SIGHUP`` (a terminal closed): as a second Ctrl-C at once, since
  whoever sent them will not wait for a run to finish.

Every case ends the sweep with the records kept and a ``--resume`` hint; the command exits ``128 + signal``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child and everything in its process group (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _say(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # the terminal is gone (SIGHUP): the records matter more
        print(message, file=sys.stderr, flush=True)


class SweepGuard:
    """Installed around a sweep (main thread only; elsewhere it leaves signals alone)."""

    def __init__(self) -> None:
        self.interrupts = 0
        self.stop_signal: int | None = None  # the signal that ended the sweep
        self.abort = False  # stop the running child now
        self.child: subprocess.Popen[bytes] | None = None
        self.killed_pid: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def stopping(self) -> bool:
        return self.stop_signal is not None

    def __enter__(self) -> SweepGuard:
        for signum in HANDLED:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            self.interrupts += 1
            if self.interrupts == 1 and not self.abort:
                self.stop_signal = signum
                _say("\nkbench: interrupt received; finishing the current run, then stopping (Ctrl-C again: abort it)")
                return
        elif self.stop_signal in (None, signal.SIGINT):  # a termination signal names the exit code
            _say(f"\nkbench: {signal.Signals(signum).name} received; stopping the current run and the sweep")
            self.stop_signal = signum
        self.stop_signal = self.stop_signal or signum
        self.abort = True
        self.stop_child()

    def stop_child(self) -> None:
        """Kill the running child, if any; its run is recorded as ``interrupted``."""
        child = self.child
        if child is not None and child.poll() is None:
            self.killed_pid = child.pid
            kill_group(child)

    def exit_code(self) -> int:
        """``128 + signal`` of the signal that stopped the sweep (130 for Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
        return 128 + int(self.stop_signal or signal.SIGINT)


__all__ = ["HANDLED", "SweepGuard", "kill_group"]

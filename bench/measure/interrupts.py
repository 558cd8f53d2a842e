"""How a sweep answers signals: stop between runs, or stop now, and never lose a finished record.

* first ``SIGINT`` (Ctrl-C): the current run finishes and is recorded, then the sweep stops;
* second ``SIGINT``: the current run's child is killed and the run recorded as ``interrupted``;
* ``SIGTERM`` (a CI job cancelled) and ``SIGHUP`` (a terminal closed): as a second Ctrl-C at once, since
  whoever sent them will not wait for a run to finish.

Every case ends the sweep with the records kept and a ``--resume`` hint; the command exits ``128 + signal``.

Those handlers exist only while a sweep runs, and the ones found before are put back after it. Where kbench is
the process (the ``kbench`` command, :func:`process_entry`), the signal ends in that exit code. Where a command
runs inside another program (a test suite, a notebook, the pytest plugin), the signal that stopped the sweep is
then delivered again to that program's own handler: Ctrl-C stops pytest instead of one test.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PROCESS_ENTRY: contextvars.ContextVar[bool] = contextvars.ContextVar("kbench_process_entry", default=False)


@contextlib.contextmanager
def process_entry() -> Iterator[None]:
    """Mark the command running inside as the process's own: a signal that stops it becomes its exit code."""
    token = _PROCESS_ENTRY.set(True)
    try:
        yield
    finally:
        _PROCESS_ENTRY.reset(token)


def owns_process() -> bool:
    """True inside :func:`process_entry`; False when kbench runs inside another program."""
    return _PROCESS_ENTRY.get()


_PENDING: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("kbench_pending_signals", default=None)


@contextlib.contextmanager
def signals_passed_on() -> Iterator[None]:
    """Around a command run inside another program: a signal that stopped a sweep in it is delivered again to
    that program's own handlers once the command has finished (its records kept, its messages printed)."""
    if owns_process():
        yield
        return
    pending: list[int] = []
    token = _PENDING.set(pending)
    try:
        yield
    finally:
        _PENDING.reset(token)
        if pending:
            signal.raise_signal(pending[0])


@contextlib.contextmanager
def handlers_kept(signals: tuple[int, ...] = HANDLED) -> Iterator[None]:
    """Put back the signal handlers found on entry when leaving: for libraries that install their own
    (``ray.init`` replaces the SIGTERM handler of the process for good)."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.getsignal(signum) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # a handler installed from C cannot be put back from Python
                signal.signal(signum, handler)


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
        installed = bool(self._previous)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        if installed and self.stop_signal is not None and not owns_process():
            pending = _PENDING.get()
            if pending is not None:  # a command: after it has said what it kept
                pending.append(self.stop_signal)
            else:  # the host program's own handler decides (pytest: stop)
                signal.raise_signal(self.stop_signal)

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


__all__ = ["HANDLED", "SweepGuard", "handlers_kept", "kill_group", "owns_process", "process_entry", "signals_passed_on"]

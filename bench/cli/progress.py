"""Stage lines on stderr for a step that may take a while (counting a new workload on the meta device).

A command names its stages as it goes; nothing is printed unless the step is still running
:data:`DELAY_S` seconds after it began, so a cached answer stays silent. From then on each stage is one line
``kbench <command>: <stage> ...`` on stderr, never on stdout, so ``--json`` and pipes keep a clean document.
Like git's progress, the lines are shown when stderr is a terminal; ``kbench --progress`` shows them anywhere
(a CI log), ``--no-progress`` never.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import TextIO

DELAY_S = 2.0  # a step shorter than this says nothing


@dataclass
class ProgressMode:
    """``--progress/--no-progress`` (set once by the root command); None: when stderr is a terminal."""

    show: bool | None = None


PROGRESS = ProgressMode()


def _enabled(stream: TextIO) -> bool:
    if PROGRESS.show is not None:
        return PROGRESS.show
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: say nothing
        return False


class Stages:
    """The stages of one slow step; use as a context manager around the step.

    Args:
        command: the command's name, the start of each line.
        delay_s: seconds of silence before the first line (0: every stage at once).
        stream: where the lines go (default: stderr).
    """

    def __init__(self, command: str, *, delay_s: float | None = None, stream: TextIO | None = None) -> None:
        self.command = command
        self.delay_s = DELAY_S if delay_s is None else delay_s
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _enabled(self.stream)
        self.current: str | None = None
        self.shown = threading.Event()  # set once the delay has passed: stages are printed as they come
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Stages:
        if self.enabled and self.delay_s <= 0:
            self.shown.set()
        elif self.enabled:
            self._timer = threading.Timer(self.delay_s, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self.current = None  # a timer firing now has nothing left to say

    def stage(self, text: str) -> None:
        """Start a stage: printed now when the step has already run past the delay, else kept for the timer."""
        with self._lock:
            self.current = text
            if self.shown.is_set():
                self._write(text)

    def _show(self) -> None:
        with self._lock:
            self.shown.set()
            if self.current is not None:
                self._write(self.current)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(f"kbench {self.command}: {text} ...\n")
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the step goes on
            pass


__all__ = ["DELAY_S", "PROGRESS", "ProgressMode", "Stages"]

"""The child's lifeline to its parent: if the sweep process dies, the run stops too.

A parent killed with ``kill -9`` cannot stop its child (the child runs in its own session so that a
terminal's Ctrl-C reaches only the parent), and the child would otherwise measure on, holding the GPU,
for up to its whole time limit, its result lost. Two independent ways notice the death:

* Linux ``prctl(PR_SET_PDEATHSIG)``: the kernel signals the child the moment the parent exits, with a real-time
  signal of its own (:data:`DEATH_SIGNAL`) so that it cannot be mistaken for a ``SIGTERM`` sent by anyone else
  (and the handler need not ask ``getppid()``, which can still name the dead parent for a moment);
* a daemon thread that polls the parent's PID every :data:`POLL_S` seconds (any POSIX system, and the fallback
  when the main thread is busy inside a long native call and cannot run a signal handler).

Either removes the run's temporary directory (which the dead parent can no longer remove) and exits.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
import threading
import time
from types import FrameType

PARENT_ENV = "KBENCH_PARENT_PID"  # set by the sweep: the PID the child must outlive no longer than
RUN_DIR_ENV = "KBENCH_RUN_DIR"  # set by the sweep: the temporary directory this run owns
POLL_S = 0.25
EXIT_PARENT_GONE = 75
_PR_SET_PDEATHSIG = 1
DEATH_SIGNAL = getattr(signal, "SIGRTMIN", 34) + 4  # sent by the kernel when the parent dies, by no one else


def _set_parent_death_signal(signum: int) -> bool:
    """Ask the Linux kernel to send ``signum`` when the parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


_DYING = threading.RLock()  # the signal handler and the watchdog may both notice: one removes, then exits


def _die(run_dir: str | None) -> None:
    with _DYING:
        if run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
        os._exit(EXIT_PARENT_GONE)


def _watch(parent: int, run_dir: str | None) -> None:
    while True:
        if os.getppid() != parent:
            _die(run_dir)
        time.sleep(POLL_S)


def arm(parent: int | None = None, run_dir: str | None = None) -> bool:
    """Tie this process's life to ``parent`` (default: ``$KBENCH_PARENT_PID``); True when armed.

    Args:
        parent: the PID whose death ends this process.
        run_dir: a directory to remove when that happens (default: ``$KBENCH_RUN_DIR``); nothing else is removed.
    """
    if parent is None:
        parent = int(os.environ.get(PARENT_ENV) or 0)
    run_dir = run_dir if run_dir is not None else os.environ.get(RUN_DIR_ENV) or None
    if parent <= 0:
        return False

    def on_parent_death(signum: int, frame: FrameType | None) -> None:
        _die(run_dir)

    if threading.current_thread() is threading.main_thread() and sys.platform.startswith("linux"):
        signal.signal(DEATH_SIGNAL, on_parent_death)
        _set_parent_death_signal(DEATH_SIGNAL)
    if os.getppid() != parent:  # it died before the kernel was told to say so
        _die(run_dir)
    threading.Thread(target=_watch, args=(parent, run_dir), name="kbench-lifeline", daemon=True).start()
    return True


__all__ = ["DEATH_SIGNAL", "EXIT_PARENT_GONE", "PARENT_ENV", "POLL_S", "RUN_DIR_ENV", "arm"]

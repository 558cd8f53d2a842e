"""One writer per results file: an exclusive ``flock`` held for the whole sweep.

Two ``kbench run`` processes appending to the same file would interleave their runs (and ``--resume`` in
one would not see the other's). The lock is advisory, taken without waiting, and released by the kernel
when the holder exits however it exits, so a killed sweep never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from bench.errors import OutputError, ResultsWriteError, located


class ResultsLock:
    """``with ResultsLock(path):`` holds the results file for this process, creating it if needed.

    A file the lock created and nothing was written to is removed again on exit.

    Raises:
        OutputError: another process holds the lock.
        ResultsWriteError: the file cannot be created or opened.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._created = False

    def __enter__(self) -> ResultsLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ResultsWriteError(
                located(f"cannot open for writing ({exc.strerror or exc})", file=self.path)
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(
                located(
                    "another kbench run is writing this results file; wait for it or pass another --out", file=self.path
                )
            ) from None
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is None:
            return
        try:
            if self._created and os.fstat(self._fd).st_size == 0:
                self.path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


__all__ = ["ResultsLock"]

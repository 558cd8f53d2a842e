"""The temporary folder of a serve run, made so that one left behind by a killed run is removed by the next.

A serve run keeps its servers' configs and logs, and the images its Gradio client fetches, in a folder of its
own, removed when it ends. ``kill -9`` gives it no chance to, so every such folder lives under one folder per
user (``<tmp>/kbench-serve-<uid>``), is named ``<pid>-<random>`` after the process that made it, and holds a
lock (``flock``) on its ``.lock`` file for that process's life. A run removes, when it starts, the folders there
whose process is gone: its PID is not running *and* nobody holds its lock. Either alone keeps a folder: a PID
reused by another process, or a live run in another PID namespace, is never mistaken for a dead one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LOCK_NAME = ".lock"
_NAME = re.compile(r"^(\d+)-[A-Za-z0-9_]+$")


def serve_root() -> Path:
    """The folder, one per user, under which serve runs make theirs (in the system's temporary folder)."""
    return Path(tempfile.gettempdir()) / f"kbench-serve-{os.getuid()}"


def _owned_root(root: Path) -> Path | None:
    """``root``, made if missing, when it is a real folder of this user that only this user can write;
    ``None`` otherwise (someone else's, or a link: nothing in it is ours to remove)."""
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    try:
        info = os.lstat(root)
    except OSError:
        return None
    private = not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return root if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and private else None


def pid_running(pid: int) -> bool:
    """Whether a process with this PID exists (one of another user's counts: it is not ours to judge)."""
    if pid <= 0:
        return True  # not a PID this module wrote: never treated as gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock(path: Path) -> IO[str] | None:
    """The lock file of ``path``, locked by this process; ``None`` when another process holds it."""
    handle = open(path / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - held for the folder's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def remove_stale(root: Path) -> list[Path]:
    """Remove the folders under ``root`` left by serve runs that are gone; return what was removed.

    Only names of the form ``<pid>-<random>`` are looked at; a folder is removed only when its PID is not
    running and its lock can be taken (no live process holds it), and it is removed while that lock is held.
    """
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir() or pid_running(int(match.group(1))):
            continue
        try:
            lock = _lock(entry)
        except OSError:  # removed meanwhile by another run's clean-up, or not ours
            continue
        if lock is None:
            continue
        try:
            shutil.rmtree(entry, ignore_errors=True)
        finally:
            lock.close()
        removed.append(entry)
    return removed


@contextlib.contextmanager
def serve_workdir() -> Iterator[Path]:
    """A fresh folder for one serve run, removed when the block ends; stale ones of killed runs go first.

    Falls back to a plain temporary folder when the per-user root cannot be used (it is then removed at the end
    as before, but not by a later run after a ``kill -9``).
    """
    root = _owned_root(serve_root())
    lock: IO[str] | None = None
    if root is None:
        path = Path(tempfile.mkdtemp(prefix="kbench-serve-"))
    else:
        remove_stale(root)
        path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
        lock = _lock(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if lock is not None:
            lock.close()


__all__ = ["LOCK_NAME", "pid_running", "remove_stale", "serve_root", "serve_workdir"]

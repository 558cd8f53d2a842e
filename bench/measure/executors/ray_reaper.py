"""Stops the processes of the local Ray instance a sweep started, by PID, including when the sweep is killed.

Ray ties its GCS server and raylet to the thread that started them (the kernel kills them when it ends), and the
raylet's workers follow it; but the raylet's agents (the dashboard and runtime-env agents) only notice that the
raylet is gone a few seconds later and then spend about a minute trying to report it to the dead GCS server
before they exit. Nothing outside the sweep can stop them by name without also hitting other Ray instances
of the machine, so this module stops exactly the processes that appeared under the sweep process (in its
session, so a run's child, which leads its own session and has its own lifeline, is left to that lifeline):

* :func:`started_since` lists them, given the descendants that were there before Ray started;
* :func:`stop` ends them: SIGTERM, then SIGKILL after a grace period; ``psutil`` checks that a PID still names
  the process it listed before it signals it;
* run as a script, this file is the watcher that does the same when the sweep process dies without a chance
  to clean up (``kill -9``): it lists the new processes every :data:`POLL_S` seconds and stops them when its
  standard input, a pipe whose other end only the sweep process holds, reaches end of file. The sweep closes
  that pipe itself when it is done, so the watcher never outlives the sweep.

The script imports nothing from ``bench`` (only ``psutil``), so that it starts in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from collections.abc import Iterable

import psutil

POLL_S = 0.5
GRACE_S = 3.0  # between SIGTERM and SIGKILL
Identity = tuple[int, float]  # (pid, create_time): a PID alone may be reused by another process


def identity(proc: psutil.Process) -> Identity:
    """What tells a process apart from a later one that reuses its PID."""
    return proc.pid, proc.create_time()


def descendants(root: int) -> list[psutil.Process]:
    """The processes below ``root`` that are in its session (none when ``root`` is gone)."""
    try:
        sid = os.getsid(root)
        children = psutil.Process(root).children(recursive=True)
    except (psutil.Error, OSError):
        return []
    found = []
    for child in children:
        try:
            if os.getsid(child.pid) == sid:
                found.append(child)
        except OSError:  # gone meanwhile
            continue
    return found


def snapshot(root: int) -> set[Identity]:
    """The identities of ``root``'s descendants now: what :func:`started_since` leaves out later."""
    known = set()
    for proc in descendants(root):
        try:
            known.add(identity(proc))
        except psutil.Error:
            continue
    return known


def started_since(root: int, before: set[Identity], exclude: Iterable[int] = ()) -> list[psutil.Process]:
    """``root``'s descendants in its session that were not among ``before`` (nor PIDs in ``exclude``)."""
    skip = set(exclude)
    found = []
    for proc in descendants(root):
        try:
            if proc.pid not in skip and identity(proc) not in before:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def stop(procs: Iterable[psutil.Process], grace_s: float = GRACE_S) -> list[int]:
    """End ``procs`` (SIGTERM, then SIGKILL after ``grace_s``); the PIDs that were still running."""
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                proc.send_signal(signal.SIGTERM)  # psutil refuses a PID that now names another process
                alive.append(proc)
        except psutil.Error:
            continue
    _, left = psutil.wait_procs(alive, timeout=grace_s)
    for proc in left:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(left, timeout=grace_s)
    return [p.pid for p in alive]


def watch(driver: int, before: set[Identity]) -> None:
    """Follow ``driver``'s new processes until standard input ends, then stop every one still running."""
    seen: dict[Identity, psutil.Process] = {}
    while True:
        for proc in started_since(driver, before, exclude=(os.getpid(),)):
            try:
                seen.setdefault(identity(proc), proc)
            except psutil.Error:
                continue
        ready, _, _ = select.select([sys.stdin.fileno()], [], [], POLL_S)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break
    for proc in started_since(driver, before, exclude=(os.getpid(),)):  # the last ones, if the driver still lives
        try:
            seen.setdefault(identity(proc), proc)
        except psutil.Error:
            continue
    stop(seen.values())


def main(argv: list[str]) -> int:
    """``ray_reaper.py DRIVER_PID BEFORE_JSON``: BEFORE_JSON lists ``[pid, create_time]`` pairs to leave alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the sweep's business, not ours
    driver = int(argv[1])
    before = {(int(pid), float(created)) for pid, created in json.loads(argv[2])}
    watch(driver, before)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

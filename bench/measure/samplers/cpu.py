"""Host-side sampler: resident memory and CPU use of a process and all its descendants."""

from __future__ import annotations

import psutil

from bench.measure.samplers.base import MIB, Reading

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


class CpuSampler:
    """Process-tree RSS (MiB) and CPU use (percent of one core, so it can exceed 100).

    Children count because pipelines may spawn workers, and a run's memory is what the whole tree holds.
    RSS is summed per process, so pages shared between processes are counted once per process.
    """

    name = "cpu"
    fields: tuple[str, ...] = ("rss_mb", "cpu_pct")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._root = psutil.Process(pid)
        # psutil's cpu_percent compares against the previous call on the *same* object: keep them.
        self._procs: dict[int, psutil.Process] = {}
        self._tree()

    def _tree(self) -> list[psutil.Process]:
        procs = [self._root, *self._root.children(recursive=True)]
        kept: list[psutil.Process] = []
        for proc in procs:
            cached = self._procs.get(proc.pid)
            if cached is None or cached != proc:  # new process, or a reused pid
                try:
                    proc.cpu_percent(None)  # prime: the first call always returns 0.0
                except _GONE:
                    continue
                cached = proc
            kept.append(cached)
        self._procs = {p.pid: p for p in kept}
        return kept

    def read(self) -> Reading:
        """Sum RSS and CPU percent since the previous reading over the live process tree."""
        try:
            procs = self._tree()
        except _GONE:
            return {"rss_mb": None, "cpu_pct": None}
        rss_b = 0
        cpu_pct = 0.0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss_b += proc.memory_info().rss
                    cpu_pct += proc.cpu_percent(None)
            except _GONE:
                continue
        return {"rss_mb": rss_b / MIB, "cpu_pct": cpu_pct}

    def close(self) -> None:
        """Nothing to release."""
        self._procs = {}

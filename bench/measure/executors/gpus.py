"""``--executor gpus``: one worker per visible GPU of this machine, each run's child pinned to its worker's GPU.

A run asking for ``cuda`` goes to the first free GPU, ``cuda:N`` waits for GPU N, and a run with ``gpu:`` (a
model such as ``A100``) waits for a GPU whose name contains it; a run no visible GPU can take is recorded
``skipped`` with the reason. CPU runs share the host's cores, so they run one at a time (beside GPU runs,
never beside each other): two CPU runs at once would each measure the other's load.

Where the GPUs come from is injectable (:class:`DeviceSource`): NVML by default, a fixed list in tests.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.errors import KbenchError
from bench.measure.executors.base import Event, FanoutGuard, Job, Placement, base_placement, pinned_env
from bench.measure.executors.driver import DrivenExecutor
from bench.measure.interrupts import SweepGuard
from bench.measure.runner import parent_record, run_in_child
from bench.measure.samplers.nvml import cuda_index
from bench.results import ErrorInfo, utc_now_iso
from bench.spec import RunSpec

POLL_S = 0.2


@dataclass(frozen=True)
class Gpu:
    """One visible GPU: its CUDA index here, the ``CUDA_VISIBLE_DEVICES`` entry that selects it, its name."""

    index: int
    visible: str
    name: str


DeviceSource = Callable[[], list[Gpu]]


def nvml_devices() -> list[Gpu]:
    """The GPUs this process may use, in PCI bus order, honouring an existing ``CUDA_VISIBLE_DEVICES``."""
    from bench.measure.samplers.nvml import load_nvml, shutdown_nvml

    nvml, _ = load_nvml()
    if nvml is None:
        return []
    try:
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        names = [_text(nvml.nvmlDeviceGetName(h)) for h in handles]
    finally:
        shutdown_nvml(nvml)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [Gpu(i, str(i), name) for i, name in enumerate(names)]
    entries = [e.strip() for e in visible.split(",") if e.strip()]
    return [Gpu(i, e, names[int(e)] if e.isdigit() and int(e) < len(names) else e) for i, e in enumerate(entries)]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def static_devices(count: int, name: str = "GPU") -> DeviceSource:
    """A device source of ``count`` GPUs named ``name`` (tests on machines without GPUs; restricting a sweep)."""
    gpus = [Gpu(i, str(i), name) for i in range(count)]
    return lambda: list(gpus)


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def can_take(gpu: Gpu, spec: RunSpec) -> bool:
    """Whether ``gpu``'s worker may run ``spec`` (CPU runs: any worker)."""
    if not spec.device.startswith("cuda"):
        return True
    if ":" in spec.device and cuda_index(spec.device) != gpu.index:  # plain "cuda": any GPU
        return False
    return spec.gpu is None or _norm(spec.gpu) in _norm(gpu.name)


def _unplaceable(spec: RunSpec, gpus: Sequence[Gpu]) -> str | None:
    if any(can_take(g, spec) for g in gpus):
        return None
    seen = ", ".join(f"{g.index}: {g.name}" for g in gpus)
    wanted = f"a GPU named like {spec.gpu}" if spec.gpu else spec.device
    return f"no visible GPU can run it: it needs {wanted}; visible: {seen}"


class _Pool:
    """The runs still to start, handed to workers under one lock (a CPU run only while no other runs)."""

    def __init__(self, todo: Sequence[Job], guard: FanoutGuard) -> None:
        self.pending = list(todo)
        self.guard = guard
        self.cpu_busy = False
        self.cond = threading.Condition()

    def take(self, gpu: Gpu) -> Job | None:
        """The next job for ``gpu``'s worker, waiting while others may free one; None when it is done."""
        with self.cond:
            while not self.guard.stopping:
                mine = [job for job in self.pending if can_take(gpu, job.spec)]
                if not mine:
                    return None
                for job in mine:
                    cpu = not job.spec.device.startswith("cuda")
                    if cpu and self.cpu_busy:
                        continue
                    self.pending.remove(job)
                    self.cpu_busy = self.cpu_busy or cpu
                    return job
                self.cond.wait(POLL_S)
            return None

    def release(self, spec: RunSpec) -> None:
        with self.cond:
            if not spec.device.startswith("cuda"):
                self.cpu_busy = False
            self.cond.notify_all()


class GpusExecutor(DrivenExecutor):
    """Runs in parallel, one per visible GPU of this machine (see the module docstring)."""

    name = "gpus"

    def __init__(self, devices: DeviceSource = nvml_devices) -> None:
        self.devices = devices

    def session(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def check(self) -> None:
        """Refuse a machine with no visible GPU (exit code 2)."""
        if not self.devices():
            raise KbenchError("--executor gpus: no NVIDIA GPU is visible (NVML found none); use --executor local")

    def stream(
        self, todo: Sequence[Job], guard: FanoutGuard, timeout_s: float | None, images_dir: Path | None
    ) -> Iterator[Event]:
        gpus = self.devices()
        placeable = []
        for job in todo:
            reason = _unplaceable(job.spec, gpus)
            if reason is None:
                placeable.append(job)
            else:
                yield Event("end", job, parent_record(job.spec, "skipped", reason, utc_now_iso()))
        pool = _Pool(placeable, guard)
        events: queue.Queue[Event] = queue.Queue()
        workers = [
            threading.Thread(target=self._work, args=(gpu, pool, guard.worker(), events, timeout_s, images_dir))
            for gpu in gpus
        ]
        for worker in workers:
            worker.start()
        try:
            while any(w.is_alive() for w in workers) or not events.empty():
                with contextlib.suppress(queue.Empty):
                    yield events.get(timeout=POLL_S)
        finally:
            if any(w.is_alive() for w in workers):  # closed early (a write failed): stop every child
                guard.abort = True
                guard.stop_signal = guard.stop_signal or signal.SIGTERM
                guard.stop_child()
            for worker in workers:
                worker.join()

    def _work(
        self,
        gpu: Gpu,
        pool: _Pool,
        guard: SweepGuard,
        events: queue.Queue[Event],
        timeout_s: float | None,
        images_dir: Path | None,
    ) -> None:
        while (job := pool.take(gpu)) is not None:
            spec = job.spec
            events.put(Event("start", job))
            cuda = spec.device.startswith("cuda")
            placement: Placement = {
                **base_placement(self.name),
                "gpu_index": gpu.index if cuda else None,
                "gpu_name": gpu.name if cuda else None,
                "cuda_visible_devices": gpu.visible if cuda else None,
            }
            started = utc_now_iso()
            try:
                record = run_in_child(
                    spec,
                    timeout_s=timeout_s or spec.timeout_s,
                    images_dir=images_dir,
                    guard=guard,
                    pinning=pinned_env(gpu.visible, spec.device) if cuda else None,
                )
            except Exception as exc:  # the worker must report every run it took, or the sweep would wait on it
                reason = f"the gpus executor could not run it: {type(exc).__name__}: {exc}"
                info = ErrorInfo(type=type(exc).__name__, message=reason)
                record = parent_record(spec, "error", reason, started, info)
            finally:
                pool.release(spec)
            events.put(Event("end", job, record.model_copy(update={"placement": placement})))


__all__ = ["DeviceSource", "Gpu", "GpusExecutor", "can_take", "nvml_devices", "static_devices"]

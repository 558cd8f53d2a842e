"""``--executor ray``: one Ray task per run, on a Ray cluster or a local Ray instance.

Each task takes ``num_gpus=1`` for a CUDA run (``0`` for a CPU run), ``accelerator_type`` from the scenario's
``gpu:`` field, and a reserved number of CPUs (:data:`DEFAULT_GPU_TASK_CPUS` per GPU run; a CPU run reserves
its ``cpu_threads``, else one core), and runs in a fresh worker process (``max_calls=1``). The task itself
only calls :func:`~bench.measure.runner.run_in_child`, so the measurement is still a fresh child process
pinned to the GPU Ray assigned, and returns the record as JSON; records stream back to the driver with
``ray.wait`` as tasks finish, and only the driver writes them.

A task whose worker or node dies is recorded ``error`` with the reason and retried once (Ray's own task
retries are off, so that the failure is on record). A second Ctrl-C or SIGTERM cancels the outstanding tasks
(``ray.cancel``; each recorded ``interrupted``), keeping every finished record. A run no node can ever hold
(too many CPUs, an accelerator type the cluster lacks) is recorded ``skipped`` instead of waiting forever.
How Ray is reached or started (loopback only, within a time bound, token authentication, stopped by PID) is
:mod:`~bench.measure.executors.ray_connect`.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.errors import KbenchError
from bench.measure.executors.base import Event, FanoutGuard, Job, Placement, base_placement, pinned_env
from bench.measure.executors.driver import DrivenExecutor
from bench.measure.executors.ray_connect import RayStopped, open_ray
from bench.measure.interrupts import handlers_kept
from bench.measure.runner import parent_record, run_in_child
from bench.results import ErrorInfo, RunRecord, utc_now_iso
from bench.spec import RunSpec

DEFAULT_GPU_TASK_CPUS = 2.0  # the host thread that launches kernels, plus sampling, tokenising and decoding
RETRIES = 1  # a task whose worker or node died runs once more
POLL_S = 0.25
INSTALL_HINT = "Ray is not installed: pip install 'kandinsky-bench[ray]'"
_DIED = ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "OwnerDiedError", "ObjectLostError")


def run_task(spec_json: str, timeout_s: float, images_dir: str, attempt: int) -> str:
    """The body of one Ray task (in its worker): the run in a fresh child, its record with where it ran."""
    import ray

    spec = RunSpec.model_validate_json(spec_json)
    ctx = ray.get_runtime_context()
    gpu_ids = ",".join(str(i) for i in ray.get_gpu_ids())
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") or gpu_ids
    cuda = spec.device.startswith("cuda")
    record = run_in_child(
        spec,
        timeout_s=timeout_s,
        images_dir=Path(images_dir) if images_dir else None,
        pinning=pinned_env(visible, spec.device) if cuda and visible else None,
    )
    placement: Placement = {
        **base_placement("ray"),
        "node_id": ctx.get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "worker_pid": os.getpid(),
        "gpu_ids": gpu_ids or None,
        "cuda_visible_devices": visible if cuda else None,
        "reserved_cpus": f"{ctx.get_assigned_resources().get('CPU', 0.0):g}",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),  # Ray sets it to the reservation; torch follows
        "attempt": attempt,
    }
    return record.model_copy(update={"placement": placement}).model_dump_json()


class RayExecutor(DrivenExecutor):
    """Runs as Ray tasks (see the module docstring).

    Args:
        address: ``auto``, ``ray://host:port`` or a GCS address (reached within a time bound); None starts a
            local instance with this machine's CPUs, on loopback only, stopped again at the end (by PID, even
            when this process is killed: :mod:`~bench.measure.executors.ray_connect`). Either way a Ray session
            already initialised in this process is used instead, and left running.
        num_cpus: CPUs each task reserves, overriding the defaults.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: float | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Connect (or start the local instance) for the sweep, and disconnect (stop it) after.

        The connection is bounded in time and a signal gives it up (:mod:`~bench.measure.executors.ray_connect`):
        Ray's own waits would otherwise hold the command for minutes, deaf to SIGTERM.

        Raises:
            KbenchError: Ray is missing, or the cluster cannot be used (one line, exit code 2).
            RayStopped: SIGINT, SIGTERM or SIGHUP while connecting or stopping (exit code ``128 + signal``).
        """
        try:
            import ray
        except ImportError:
            raise KbenchError(INSTALL_HINT) from None
        if ray.is_initialized():  # the caller's own Ray session: used as it is, and left running
            yield
            return
        with handlers_kept():  # should Ray replace a handler of the process, it is put back after
            connection = open_ray(ray, self.address, os.cpu_count() or 1)
            stopped: int | None = None
            try:
                yield
            finally:
                stopped = connection.close()
            if stopped is not None:  # after a finished sweep: its records are in the file
                raise RayStopped(stopped, "stopping Ray", "the records written so far are kept")

    def options(self, spec: RunSpec) -> dict[str, Any]:
        """The Ray resources one run's task asks for."""
        cuda = spec.device.startswith("cuda")
        cpus = self.num_cpus if self.num_cpus is not None else DEFAULT_GPU_TASK_CPUS if cuda else spec.cpu_threads or 1
        opts: dict[str, Any] = {"num_cpus": cpus, "num_gpus": 1 if cuda else 0, "max_retries": 0}
        if cuda and spec.gpu:
            opts["accelerator_type"] = spec.gpu
        return opts

    def stream(
        self, todo: Sequence[Job], guard: FanoutGuard, timeout_s: float | None, images_dir: Path | None
    ) -> Iterator[Event]:
        import ray

        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        task = ray.remote(max_calls=1)(run_task)
        window = max(1, int(sum(n.get("CPU", 0) for n in nodes) // max(min(self._cpus(j.spec) for j in todo), 0.01)))
        queue: deque[tuple[Job, int]] = deque((j, 1) for j in todo)
        pending: dict[Any, tuple[Job, int, str]] = {}
        try:
            while pending or (queue and not guard.stopping):
                if guard.abort:
                    yield from self._cancel(ray, pending, guard)
                    return
                while queue and not guard.stopping and len(pending) < window:
                    job, attempt = queue.popleft()
                    spec = job.spec
                    if reason := _infeasible(self.options(spec), nodes):
                        yield Event("end", job, parent_record(spec, "skipped", reason, utc_now_iso()))
                        continue
                    limit = timeout_s or spec.timeout_s
                    ref = task.options(**self.options(spec)).remote(
                        spec.model_dump_json(), limit, str(images_dir or ""), attempt
                    )
                    pending[ref] = (job, attempt, utc_now_iso())
                    if attempt == 1:
                        yield Event("start", job)
                if not pending:
                    continue
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    job, attempt, started = pending.pop(ref)
                    record, retry = _collect(ray, ref, job.spec, attempt, started, may_retry=not guard.stopping)
                    if retry:
                        queue.appendleft((job, attempt + 1))
                    yield Event("end", job, record, final=not retry)
        finally:
            for ref in pending:  # closed early (a write failed, or an error): nothing may run on unwatched
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def _cpus(self, spec: RunSpec) -> float:
        return float(self.options(spec)["num_cpus"])

    def _cancel(self, ray: Any, pending: dict[Any, tuple[Job, int, str]], guard: FanoutGuard) -> Iterator[Event]:
        name = signal.Signals(guard.stop_signal or signal.SIGINT).name
        by = "a second Ctrl-C" if name == "SIGINT" else name
        for ref, (job, attempt, started) in list(pending.items()):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
            reason = f"stopped by {by} before it finished (Ray task cancelled)"
            record = parent_record(job.spec, "interrupted", reason, started)
            yield Event("end", job, record.model_copy(update={"placement": _lost_placement(attempt)}))
        pending.clear()


def _lost_placement(attempt: int) -> Placement:
    return {**base_placement("ray"), "attempt": attempt}


def _collect(
    ray: Any, ref: Any, spec: RunSpec, attempt: int, started: str, *, may_retry: bool = True
) -> tuple[RunRecord, bool]:
    """The record of a finished task, and whether to run it again (its worker or node died)."""
    try:
        return RunRecord.model_validate_json(ray.get(ref)), False
    except Exception as exc:
        kind = type(exc).__name__
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else kind
        died = isinstance(exc, tuple(t for n in _DIED if isinstance(t := getattr(ray.exceptions, n, None), type)))
        if kind == "TaskCancelledError":
            status, reason, retry = "interrupted", "the Ray task was cancelled before it finished", False
        elif died:
            retry = may_retry and attempt <= RETRIES
            then = "; run again once" if retry else f"; not run again (attempt {attempt})"
            status, reason = "error", f"the Ray worker or node died during the run ({kind}: {message}){then}"
        else:
            status, reason, retry = "error", f"the Ray task failed: {kind}: {message}", False
        info = ErrorInfo(type=kind, message=reason)
        record = parent_record(spec, status, reason, started, info if status == "error" else None)
        return record.model_copy(update={"placement": _lost_placement(attempt)}), retry


def _infeasible(options: dict[str, Any], nodes: list[dict[str, float]]) -> str | None:
    """Why no node of the cluster can ever hold a task with ``options`` (None when one can)."""
    need = {"CPU": float(options["num_cpus"]), "GPU": float(options["num_gpus"])}
    if accel := options.get("accelerator_type"):
        need[f"accelerator_type:{accel}"] = 0.001
    if any(all(node.get(k, 0.0) >= v for k, v in need.items() if v) for node in nodes):
        return None
    types = sorted({k.split(":", 1)[1] for n in nodes for k in n if k.startswith("accelerator_type:")})
    biggest = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
    return (
        f"no Ray node can hold the task: it needs {need['CPU']:g} CPU(s) (--ray-num-cpus), {need['GPU']:g} GPU(s)"
        + (f" and accelerator_type {accel} (gpu:)" if accel else "")
        + f"; the largest node has {biggest:g} CPU(s), accelerator types: {', '.join(types) or 'none'}"
    )


__all__ = ["DEFAULT_GPU_TASK_CPUS", "RETRIES", "RayExecutor", "run_task"]

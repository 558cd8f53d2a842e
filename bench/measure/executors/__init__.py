"""Executors: where the runs of a sweep execute. ``local`` (one after another, :func:`run_sweep`), ``gpus`` (one
worker per visible GPU of this machine) and ``ray`` (a Ray task per run). All share one unit of work, a run in
a fresh child process, and one loop that writes the results file (the driver)."""

from __future__ import annotations

import re

from bench.errors import KbenchError
from bench.measure.executors.base import EXECUTOR_NAMES, Executor
from bench.measure.executors.sequential import LocalExecutor, run_sweep

_RAY_ADDRESS = re.compile(r"(ray://)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})")


def check_ray_address(address: str) -> str:
    """``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` (a port 1-65535), else one line naming what is allowed.

    Raises:
        KbenchError: any other text (Ray itself would fail late, with an internal error or a long wait).
    """
    match = _RAY_ADDRESS.fullmatch(address)
    if address != "auto" and not (match and 0 < int(match["port"]) < 65536):
        raise KbenchError(f"--ray-address: {address!r} is not auto, HOST:PORT or ray://HOST:PORT (port 1-65535)")
    return address


def make_executor(name: str, *, ray_address: str | None = None, ray_num_cpus: float | None = None) -> Executor:
    """The executor ``--executor NAME`` names, with its options checked.

    Raises:
        KbenchError: an unknown name, or a Ray option given to another executor (exit code 2).
    """
    if name not in EXECUTOR_NAMES:
        raise KbenchError(f"--executor: {name!r} is not an executor; allowed: {', '.join(EXECUTOR_NAMES)}")
    if name != "ray" and (ray_address is not None or ray_num_cpus is not None):
        raise KbenchError(f"--ray-address/--ray-num-cpus: apply to --executor ray only, not {name!r}")
    if ray_num_cpus is not None and not 0 < ray_num_cpus <= 1024:
        raise KbenchError(f"--ray-num-cpus: must be a number of CPUs > 0 and <= 1024, got {ray_num_cpus:g}")
    if ray_address is not None:
        check_ray_address(ray_address)
    if name == "gpus":
        from bench.measure.executors.gpus import GpusExecutor

        return GpusExecutor()
    if name == "ray":
        from bench.measure.executors.ray import RayExecutor

        return RayExecutor(ray_address, ray_num_cpus)
    return LocalExecutor()


__all__ = [
    "EXECUTOR_NAMES",
    "Executor",
    "KbenchError",
    "LocalExecutor",
    "check_ray_address",
    "make_executor",
    "run_sweep",
]

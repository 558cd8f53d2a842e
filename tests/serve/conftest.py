"""Real kbench servers on tiny CPU pipelines, one per test module, and the serve specs that drive them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from bench.scenario.serve import ServeSpec
from bench.serve.engine import ServerConfig
from bench.serve.process import ServerProcess
from bench.spec import RunSpec
from tests.factories import tiny_spec

STARTUP_S = 180.0  # a loaded 2-core machine imports torch and diffusers slowly


def serve_spec(max_batch: int = 1) -> RunSpec:
    """The served workload: Kandinsky 2.2 tiny, 64x64, one decoder step, one CPU thread (a steady service)."""
    return tiny_spec(steps=1, prior_steps=2, cpu_threads=1, batch_size=max_batch)


@contextlib.contextmanager
def running_server(kind: str, workdir: Path, max_batch: int = 1, window_s: float = 0.0) -> Iterator[ServerProcess]:
    config = ServerConfig(spec=serve_spec(max_batch), max_batch=max_batch, batch_window_s=window_s)
    server = ServerProcess(kind, config, workdir)
    server.start()
    try:
        server.wait_healthy(STARTUP_S)
        yield server
    finally:
        server.stop()
        assert server.pid is not None and not alive(server.pid)


def drive(server: ServerProcess, api: str, **load: Any) -> ServeSpec:
    """A serve block that drives an already running kbench server as an existing endpoint."""
    defaults: dict[str, Any] = {"warmup": 0, "request_timeout_s": 60, "duration_s": 30, "seed": 7}
    return ServeSpec(server="url", api=api, target_url=server.url, **{**defaults, **load})


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie not yet reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

"""Servers that do not start, a port in use, a server killed mid-load: recorded failures, never a hang, with
the finished load points kept and no process left behind (checked by PID)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.results.serving import read_serve_results
from bench.scenario.serve import ServeSpec
from bench.serve.engine import ServerConfig
from bench.serve.host import HOST
from bench.serve.process import ServerFailure, ServerProcess
from bench.serve.runner import ServePlan, run_serve
from tests.serve.checks import check_point
from tests.serve.conftest import STARTUP_S, alive, serve_spec


def _own_descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}


def test_a_port_in_use_fails_fast_with_its_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServerProcess("openai", ServerConfig(spec=serve_spec()), tmp_path, port=port)
        server.start()
        started = time.monotonic()
        try:
            with pytest.raises(ServerFailure, match=f"port {port} is in use"):
                server.wait_healthy(STARTUP_S)
        finally:
            server.stop()
    assert time.monotonic() - started < 30  # it binds before it builds the pipeline
    assert server.pid is not None and not alive(server.pid)


def test_a_server_not_healthy_by_the_deadline_is_a_failed_record_per_point(tmp_path: Path) -> None:
    """A server still importing when its start-up deadline passes is stopped, and every planned point is a
    failure with that reason: waiting for a server is bounded like everything else."""
    serve = ServeSpec(server="openai", rates=[1.0, 2.0], max_requests=2, startup_timeout_s=0.5)
    out = tmp_path / "r.serve.jsonl"
    before = _own_descendants()
    started = time.monotonic()
    outcome = run_serve([ServePlan(serve_spec(), serve)], out)
    assert time.monotonic() - started < 20
    assert [p.status for p in outcome.points] == ["failed", "failed"]
    for point in outcome.points:
        assert point.reason is not None and "did not become healthy within 0.5 s" in point.reason
        assert point.sent == 0 and point.latency is None and point.slo_ok is None
    assert read_serve_results(out) == outcome.points
    assert _own_descendants() <= before


def test_a_server_killed_mid_load_keeps_the_finished_points(tmp_path: Path) -> None:
    """SIGKILL the server's PID during the second of three load points: the first stays as measured, the
    second is a failure naming the signal, the third is recorded as not run, and nothing is left running."""
    serve = ServeSpec(
        server="openai",
        arrivals="constant",
        rates=[2.0, 3.0, 4.0],
        max_requests=6,
        duration_s=20,
        request_timeout_s=30,
        warmup=1,
        startup_timeout_s=STARTUP_S,
    )
    pids: list[int] = []
    points: list[str] = []  # the first point's progress line (its rate may be capped at the measured capacity)

    def progress(line: str) -> None:
        if "healthy" in line:
            pids.append(int(line.split(" pid ")[1].split()[0]))
        elif "req/s (sweep)" in line and not points and pids:  # the first point is written: kill during the next
            points.append(line)
            threading.Timer(0.8, os.kill, (pids[0], signal.SIGKILL)).start()

    before = _own_descendants()
    out = tmp_path / "r.serve.jsonl"
    started = time.monotonic()
    outcome = run_serve([ServePlan(serve_spec(), serve)], out, progress=progress)
    assert time.monotonic() - started < 120
    first, second, third = outcome.points
    check_point(first)
    assert second.status == "failed" and second.reason is not None and "SIGKILL" in second.reason
    assert second.sent < 6 or second.failed > 0
    assert sum(second.request_errors.values()) == second.failed + second.timed_out  # each with why
    assert third.status == "failed" and third.reason is not None and third.reason.startswith("not run")
    assert read_serve_results(out) == outcome.points
    assert pids and not alive(pids[0])
    assert _own_descendants() <= before

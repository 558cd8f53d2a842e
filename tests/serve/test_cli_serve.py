"""``kbench run`` on a serve scenario, as a user runs it: SIGTERM mid-load stops the server by its PID, keeps
the finished load point, records the cut one as interrupted and exits 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.results.serving import ServeRecord, read_serve_results
from tests.conftest import REPO
from tests.serve.checks import check_point
from tests.serve.conftest import alive

SCENARIO = """\
name: cli
models: [kandinsky-2.2]
weights: tiny
device: cpu
dtypes: [fp32]
resolutions: [64x64]
steps: [1]
prior_steps: 2
cpu_threads: 1
mode: serve
serve:
  server: openai
  arrivals: constant
  rates: [2, 1]
  max_requests: 6
  duration_s: 20
  warmup: 0
  request_timeout_s: 30
  startup_timeout_s: 180
"""


def test_sigterm_mid_load_keeps_points_and_stops_the_server(tmp_path: Path) -> None:
    scenario = tmp_path / "serve.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "r.serve.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", str(scenario), "--out", str(out), "--no-report"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)},
    )
    server_pid = None
    deadline = time.monotonic() + 240
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "healthy" in line:
                server_pid = int(line.split(" pid ")[1].split()[0])
            if line.lstrip().startswith("1 req/s"):  # the first point (lowest rate) is on disk
                time.sleep(1.0)  # into the second point
                proc.send_signal(signal.SIGTERM)
                break
            assert time.monotonic() < deadline
        assert proc.wait(timeout=60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert server_pid is not None and not alive(server_pid)
    first, second = read_serve_results(out)
    assert isinstance(first, ServeRecord) and isinstance(second, ServeRecord)
    check_point(first)
    assert first.offered_rate_per_s == 1.0 and first.completed == 6
    assert second.status == "interrupted" and second.sent < 6
    assert (second.asked_rate_per_s or second.offered_rate_per_s) == 2.0  # capped if the server is slower than that

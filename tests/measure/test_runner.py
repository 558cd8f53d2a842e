"""The sweep's fault handling, with real child processes: OOM, timeout, crash, Ctrl-C, kill + resume.

Faults are injected into the child through a ``sitecustomize`` module on PYTHONPATH that replaces
the workload call, so the production code path is exactly the one users run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.measure.executors import run_sweep
from bench.results import read_results
from bench.spec import RunSpec
from tests.conftest import REPO
from tests.factories import tiny_spec

FAULTS = {
    "sleep": "import time; time.sleep(float(os.environ.get('KB_SLEEP', '60')))",
    "exit": "os._exit(7)",
    "sigkill": "os.kill(os.getpid(), signal.SIGKILL)",
    "raise": "raise ValueError('boom in the pipeline')",
}


def _fault_env(tmp_path: Path, fault: str, **extra: str) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "import os, signal\n"
        "import bench.workloads as w\n"
        "_real = w.run_workload\n"
        "def run_workload(*args, **kwargs):\n"
        "    if os.environ.get('KB_FAULT_ONLY') and os.environ['KB_FAULT_ONLY'] not in args[1].run_key:\n"
        "        return _real(*args, **kwargs)\n"
        f"    {FAULTS[fault]}\n"
        "w.run_workload = run_workload\n"
    )
    return {"PYTHONPATH": f"{site}{os.pathsep}{REPO}", **extra}


def _spec(**kw) -> RunSpec:
    return tiny_spec(**{"warmup": 0, "repeats": 2, "max_repeats": 2, **kw})


@pytest.fixture
def patched_env(monkeypatch, tmp_path):
    def apply(fault: str, **extra: str) -> None:
        for key, value in _fault_env(tmp_path, fault, **extra).items():
            monkeypatch.setenv(key, value)

    return apply


def test_ok_and_error_and_skipped_in_one_sweep(tmp_path, patched_env):
    patched_env("raise", KB_FAULT_ONLY="|de")
    specs = [_spec(), _spec(language="de"), _spec(memory="model_cpu_offload"), _spec(device="cuda")]
    out = tmp_path / "r.jsonl"
    outcome = run_sweep(specs, out)
    status = {r.spec.run_key: r for r in read_results([out])}
    # a run that cannot apply here is recorded before anything runs; the others in the scenario's order
    order = [(specs[2], "skipped"), (specs[0], "ok"), (specs[1], "error"), (specs[3], "skipped")]
    assert [(r.run_key, r.status) for r in outcome.records] == [(s.run_key, status) for s, status in order]
    err = status[specs[1].run_key]
    assert err.error is not None and err.error.type == "ValueError" and "boom in the pipeline" in err.error.message
    assert any("ValueError" in line for line in err.error.traceback_tail)
    assert "does not apply on device cpu" in (status[specs[2].run_key].reason or "")
    assert "CUDA" in (status[specs[3].run_key].reason or "")
    ok = status[specs[0].run_key]
    assert ok.summary is not None and ok.summary.n == 2 and ok.timing is not None and ok.timing.load_s > 0
    assert ok.env["torch_version"] and ok.env["kbench_version"]


def test_real_host_oom_under_rlimit(tmp_path):
    # Full-size 2.2 prior on the CPU in fp32 needs ~14 GB; a 3 GB address-space limit makes allocation fail.
    spec = _spec(weights="random", memory_limit_mb=3000, width=512, height=512)
    record = run_sweep([spec], tmp_path / "r.jsonl").records[0]
    assert record.status == "oom", record.reason
    assert record.error is not None


def test_timeout_kills_the_child(tmp_path, patched_env):
    patched_env("sleep", KB_SLEEP="120")
    started = time.monotonic()
    record = run_sweep([_spec()], tmp_path / "r.jsonl", timeout_s=8).records[0]
    assert record.status == "timeout"
    assert "8 s limit" in (record.reason or "")
    assert time.monotonic() - started < 60


def test_crash_via_os_exit(tmp_path, patched_env):
    patched_env("exit")
    record = run_sweep([_spec()], tmp_path / "r.jsonl").records[0]
    assert record.status == "error"
    assert "exited with code 7" in (record.reason or "")


def test_kernel_style_kill_is_oom(tmp_path, patched_env):
    patched_env("sigkill")
    record = run_sweep([_spec()], tmp_path / "r.jsonl").records[0]
    assert record.status == "oom"
    assert "SIGKILL" in (record.reason or "")


def _write_scenario(tmp_path: Path, languages: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        "scenarios:\n  - name: s\n    models: [kandinsky-2.2]\n    weights: tiny\n    device: cpu\n"
        f"    dtypes: [fp32]\n    resolutions: [64x64]\n    steps: 2\n    prior_steps: 2\n    warmup: 0\n"
        f"    repeats: 1\n    languages: [{languages}]\n"
    )
    return path


def _start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _children_of(pid: int, timeout: float = 60) -> list[psutil.Process]:
    """The kbench child processes of the sweep ``pid`` once one has started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            found = [c for c in psutil.Process(pid).children() if "bench.measure.child" in " ".join(c.cmdline())]
            if found:
                return found
        time.sleep(0.1)
    raise AssertionError(f"sweep {pid} never started a child")


def _alive(process: psutil.Process) -> bool:
    """Running (an exited child reparented to an init that does not reap it stays a zombie: not running)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_records(path: Path, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} never reached {n} records")


def test_ctrl_c_finishes_current_run_keeps_results_and_resumes(tmp_path):
    scenario = _write_scenario(tmp_path, "en, ru, zh")
    out = tmp_path / "r.jsonl"
    env = _fault_env(tmp_path, "sleep", KB_SLEEP="4", KB_FAULT_ONLY="|ru")
    proc = _start_cli(["run", str(scenario), "-o", str(out), "--no-report"], env)
    _wait_for_records(out, 1)  # the first run is done; the second (sleeping 4 s) is under way
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr
    records = read_results([out])
    assert [r.spec.language for r in records] == ["en", "ru"]  # the current run finished and was kept
    resumed = _start_cli(["run", str(scenario), "-o", str(out), "--resume", "--no-report"], {})
    stdout, stderr = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, stderr
    assert "2 run(s) already in" in stdout
    assert [r.spec.language for r in read_results([out])] == ["en", "ru", "zh"]


def test_resume_after_parent_is_killed(tmp_path):
    scenario = _write_scenario(tmp_path, "en, de")
    out = tmp_path / "r.jsonl"
    env = _fault_env(tmp_path, "sleep", KB_SLEEP="60", KB_FAULT_ONLY="|de")
    proc = _start_cli(["run", str(scenario), "-o", str(out), "--no-report"], env)
    _wait_for_records(out, 1)
    children = _children_of(proc.pid)  # the second run's child, sleeping
    proc.kill()  # the parent dies; its child (own session) notices and stops itself
    proc.communicate(timeout=30)
    try:
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children):
            assert time.monotonic() < deadline, "the child outlived its killed parent"
            time.sleep(0.1)
    finally:
        for child in children:  # stop only what this test started, by PID, if the lifeline failed
            with contextlib.suppress(psutil.Error):
                child.kill()
    assert len(read_results([out])) == 1
    resumed = _start_cli(["run", str(scenario), "-o", str(out), "--resume", "--no-report"], {})
    _, stderr = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["spec"]["language"] for d in lines] == ["en", "de"]
    assert all(d["status"] == "ok" for d in lines)


def test_a_child_that_wrote_a_flood_costs_the_parent_its_tail_only(tmp_path):
    """A failed child's output is read from its end: 64 MiB written, well under 1 MiB held by the parent."""
    import tracemalloc

    from bench.measure.runner import STDERR_TAIL_LINES, _stderr_tail

    flood = tmp_path / "stderr.txt"
    with open(flood, "w", encoding="utf-8") as fh:
        for _ in range(64):
            fh.write(("spam " * 200 + "\n") * 1000)  # 1 MiB a round
        fh.write("Traceback (most recent call last):\n" + "x" * 5000 + "\nValueError: boom\n")
    tracemalloc.start()
    try:
        tail = _stderr_tail(flood)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024
    assert tail[-1] == "ValueError: boom" and len(tail) <= STDERR_TAIL_LINES
    assert max(len(line) for line in tail) <= 2000  # a long line is cut, not kept whole

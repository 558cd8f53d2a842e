"""Interruptions with real processes and real signals: no finished record is lost, no child is orphaned.

The sweeps run ``kbench run`` as a real subprocess. The children never load a model: a ``sitecustomize``
module on ``PYTHONPATH`` wraps the child's lifeline (the first thing its ``main`` does, after the real
lifeline is armed) to sleep, wait for a go file, or exit, so each case costs interpreter start-ups only.
Runs with ``memory: model_cpu_offload`` on the CPU are ``skipped`` by the parent without a child: they are
the finished records that must survive. Every process a test starts is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench.results import read_results
from tests.conftest import REPO
from tests.hostile.conftest import SCENARIO, mounted_tmpfs, write

SWEEP = SCENARIO + "    memory: [model_cpu_offload, none]\n    languages: [en, ru]\n"  # 2 skips, then 2 children

SITE = """\
import json, os, sys, time
import bench.measure.lifeline as lifeline

_real_arm = lifeline.arm


def arm(*args, **kwargs):
    armed = _real_arm(*args, **kwargs)
    fault = os.environ.get("KB_FAULT", "")
    if fault == "sleep":
        time.sleep(float(os.environ.get("KB_SLEEP", "60")))
    elif fault == "wait-then-exit":  # wait for the test's go file, then fail with a long stderr tail
        while not os.path.exists(os.environ["KB_GO"]):
            time.sleep(0.05)
        for i in range(12):
            print(f"line {i}: " + "x" * 1000, file=sys.stderr)
        os._exit(7)
    elif fault == "exit":
        os._exit(7)
    return armed


lifeline.arm = arm
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    write(folder / "sitecustomize.py", SITE)
    return folder


@pytest.fixture
def sweep_file(work: Path) -> Path:
    return write(work / "s.yaml", SWEEP)


# A program that runs ``kbench run`` in its own process through ``bench.cli.main``, as a test suite or a
# notebook does: a signal that stops the sweep must reach this program afterwards, not end in an exit code.
HOST = """\
import signal, sys
from bench.cli import main
signal.signal(signal.SIGINT, signal.default_int_handler)  # as started from a terminal (a CI shell may ignore it)
try:
    code = main(["run", *sys.argv[1:]])
except KeyboardInterrupt:
    print("host: KeyboardInterrupt", flush=True)
    sys.exit(99)
print(f"host: main returned {code}", flush=True)
"""


class Sweep:
    """A ``kbench run`` subprocess (the command, or ``host``: a program calling it) and what the test needs
    to watch it."""

    def __init__(self, args: list[str], cwd: Path, site: Path, host: str | None = None, **fault: str) -> None:
        env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}", **fault}
        command = ["-c", host] if host else ["-m", "bench", "run"]
        self.proc = subprocess.Popen(
            [sys.executable, *command, *args, "--no-report"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.children: list[int] = []

    def wait_for_child(self, timeout: float = 60) -> psutil.Process:
        """The run's child process, once it has started (and armed its lifeline)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(self.proc.pid).children():
                    if "bench.measure.child" in " ".join(child.cmdline()):
                        self.children.append(child.pid)
                        time.sleep(0.5)  # past the lifeline: into the injected fault
                        return child
            time.sleep(0.05)
        raise AssertionError("the sweep never started a child")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def stop(self) -> None:
        """Stop what this test started, by PID: the sweep, then any child still alive."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)
        for pid in self.children:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


@pytest.fixture
def sweeps(work: Path, site: Path) -> Iterator[list[Sweep]]:
    started: list[Sweep] = []
    yield started
    for sweep in started:
        sweep.stop()


def _start(sweeps: list[Sweep], work: Path, site: Path, *args: str, host: str | None = None, **fault: str) -> Sweep:
    sweep = Sweep(list(args), work, site, host, **fault)
    sweeps.append(sweep)
    return sweep


def _gone(child: psutil.Process, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _run_dir(child: psutil.Process) -> Path:
    """The run's temporary folder: where the child's spec file lives."""
    return next(Path(arg).parent for arg in child.cmdline() if arg.endswith("spec.json"))


def _statuses(path: Path) -> list[tuple[str, str]]:
    return [(r.spec.language, r.status) for r in read_results([path])]


@pytest.mark.parametrize(
    ("signals", "code", "by"),
    [
        ((signal.SIGTERM,), 143, "SIGTERM"),
        ((signal.SIGHUP,), 129, "SIGHUP"),
        ((signal.SIGINT, signal.SIGINT), 130, "a second Ctrl-C"),
    ],
    ids=["sigterm", "sighup", "double-sigint"],
)
def test_signals_stop_the_child_keep_the_records_and_resume(sweeps, work, site, sweep_file, signals, code, by):
    out = work / "r.jsonl"
    sweep = _start(sweeps, work, site, str(sweep_file), "-o", str(out), KB_FAULT="sleep")
    child = sweep.wait_for_child()
    run_dir = _run_dir(child)
    started = time.monotonic()
    for signum in signals:
        sweep.proc.send_signal(signum)
        time.sleep(0.3)
    returncode, _, err = sweep.finish(timeout=30)
    assert returncode == code, err
    assert time.monotonic() - started < 30  # not the 60 s the run would have taken (half of it: load-proof)
    assert _gone(child, within=2), "the running child outlived the sweep"
    assert not run_dir.exists()
    assert f"--out {out} --resume" in err and "Traceback" not in err
    records = read_results([out])
    assert [(r.spec.memory, r.status) for r in records] == [
        ("model_cpu_offload", "skipped"),
        ("model_cpu_offload", "skipped"),
        ("none", "interrupted"),
    ]
    assert records[-1].reason == f"stopped by {by} before it finished"
    # --resume retries the interrupted run and runs the one never started
    resumed = _start(
        sweeps, work, site, str(sweep_file), "-o", str(out), "--resume", "--allow-failures", KB_FAULT="exit"
    )
    returncode, stdout, err = resumed.finish()
    assert returncode == 0, err
    assert "2 run(s) already in" in stdout
    assert _statuses(out) == [("en", "skipped"), ("ru", "skipped"), ("en", "error"), ("ru", "error")]


@pytest.mark.parametrize(
    ("signals", "ends"),
    [((signal.SIGINT, signal.SIGINT), "KeyboardInterrupt"), ((signal.SIGTERM,), "SIGTERM")],
    ids=["double-sigint", "sigterm"],
)
def test_a_signal_stops_the_program_that_called_kbench_in_process(sweeps, work, site, sweep_file, signals, ends):
    """In-process, the sweep stops as the command does (the child killed, its run recorded) and the signal then
    goes on to the calling program's own handler: Ctrl-C raises KeyboardInterrupt there, SIGTERM ends it."""
    out = work / "r.jsonl"
    before = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    sweep = _start(sweeps, work, site, str(sweep_file), "-o", str(out), host=HOST, KB_FAULT="sleep")
    child = sweep.wait_for_child()
    for signum in signals:
        sweep.proc.send_signal(signum)
        time.sleep(0.3)
    returncode, stdout, err = sweep.finish(timeout=30)
    if ends == "KeyboardInterrupt":
        assert (returncode, stdout.strip().splitlines()[-1]) == (99, "host: KeyboardInterrupt"), err
        assert "--resume" in err  # the command said what it kept before the program got its Ctrl-C
    else:
        assert returncode == -signal.SIGTERM and "host:" not in stdout, (returncode, stdout, err)
    assert _gone(child, within=2), "the running child outlived the sweep"
    assert _statuses(out) == [("en", "skipped"), ("ru", "skipped"), ("en", "interrupted")]
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == before  # this process untouched


def test_a_child_whose_parent_is_killed_stops_and_cleans_up(sweeps, work, site, sweep_file):
    sweep = _start(sweeps, work, site, str(sweep_file), "-o", str(work / "r.jsonl"), KB_FAULT="sleep")
    child = sweep.wait_for_child()
    run_dir = _run_dir(child)
    assert run_dir.is_dir()
    sweep.proc.send_signal(signal.SIGKILL)  # no handler, no cleanup: only the child's lifeline can act
    sweep.finish(timeout=30)
    assert _gone(child, within=5), "the child outlived its killed parent"
    deadline = time.monotonic() + 5
    while run_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not run_dir.exists(), "the dead parent's run folder was left behind"


def test_a_second_sweep_on_the_same_results_file_is_refused(sweeps, work, site, sweep_file):
    out = work / "r.jsonl"
    first = _start(sweeps, work, site, str(sweep_file), "-o", str(out), KB_FAULT="sleep")
    first.wait_for_child()
    before = out.read_bytes()
    second = _start(sweeps, work, site, str(sweep_file), "-o", str(out), KB_FAULT="exit")
    returncode, _, err = second.finish()
    assert returncode == 2
    assert err.strip().splitlines() == [
        f"kbench: error: {out}: another kbench run is writing this results file; wait for it or pass another --out"
    ]
    assert out.read_bytes() == before
    first.proc.send_signal(signal.SIGTERM)
    assert first.finish(timeout=30)[0] == 143


def test_a_full_disk_mid_sweep_stops_it_with_whole_records_and_resume_completes(sweeps, work, site, sweep_file):
    with mounted_tmpfs(work / "disk", "70m") as disk:
        out = disk / "r.jsonl"
        go = work / "go"
        sweep = _start(sweeps, work, site, str(sweep_file), "-o", str(out), KB_FAULT="wait-then-exit", KB_GO=str(go))
        sweep.wait_for_child()  # the two skipped records are on disk; the child waits for the go file
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):  # unbuffered: write until the file system is full
            while os.write(fd, b"\0" * (1 << 20)):
                pass
        os.close(fd)
        os.truncate(filler, filler.stat().st_size - 8192)  # two pages left: less than the next record
        go.touch()
        returncode, _, err = sweep.finish()
        assert returncode == 3, err
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"kbench: error: {out}: cannot write a record (")
        assert f"--out {out} --resume" in line and "Traceback" not in err
        data = out.read_bytes()
        assert data.endswith(b"\n") and data.count(b"\n") == 2  # whole records only: no partial line left
        assert _statuses(out) == [("en", "skipped"), ("ru", "skipped")]
        filler.unlink()
        resumed = _start(
            sweeps, work, site, str(sweep_file), "-o", str(out), "--resume", "--allow-failures", KB_FAULT="exit"
        )
        returncode, _, err = resumed.finish()
        assert returncode == 0, err
        assert _statuses(out) == [("en", "skipped"), ("ru", "skipped"), ("en", "error"), ("ru", "error")]


WATCHED_CHILD = """
import os, subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", sys.argv[1]],
    env={**os.environ, "KBENCH_PARENT_PID": str(os.getpid()), "KBENCH_RUN_DIR": sys.argv[2]},
)
print(child.pid, flush=True)
child.wait()
"""
WATCHDOG_ONLY = """
import time
from bench.measure import lifeline
lifeline._set_parent_death_signal = lambda signum: False  # no kernel help: the polling thread alone
assert lifeline.arm()
time.sleep(60)
"""


def test_the_watchdog_thread_alone_notices_a_dead_parent(tmp_path):
    """Where ``PR_SET_PDEATHSIG`` is not available, the polling thread still stops the child within a second."""
    run_dir = tmp_path / "kbench-run-x"
    run_dir.mkdir()
    (run_dir / "spec.json").write_text("{}")
    parent = subprocess.Popen(
        [sys.executable, "-c", WATCHED_CHILD, WATCHDOG_ONLY, str(run_dir)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    child = psutil.Process(int(parent.stdout.readline()))
    try:
        time.sleep(1.5)  # armed and sleeping
        assert child.is_running() and run_dir.exists()
        parent.kill()
        parent.communicate(timeout=30)
        assert _gone(child, within=3), "the watchdog did not stop the child"
        assert not run_dir.exists()
    finally:
        with contextlib.suppress(psutil.Error):
            child.kill()
        if parent.poll() is None:
            parent.kill()
            parent.communicate(timeout=30)

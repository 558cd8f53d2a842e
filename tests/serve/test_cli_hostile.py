"""``kbench run`` on a serve scenario against hostile endpoints on 127.0.0.1, as a user runs it: real signals to
the command's own process (by PID), the options of the isolated sweep, and the temporary folder a killed run
leaves. No server is started here: each endpoint is a listener in this test process, so each run takes seconds."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bench.results.serving import ServeRecord, SloRecord, read_serve_results
from bench.serve.workdirs import LOCK_NAME
from tests.conftest import REPO
from tests.serve.stubs import QuietHandler

HOLD_S = 600.0  # how long a held request stays unanswered, and the scenario's request timeout: never reached
WAIT_S = 120.0  # generous bound on anything a busy machine must do before a check
REPLY = b'{"data": [{"b64_json": ""}]}'


class _AnswersThenHolds(QuietHandler):
    """Answers the first ``answered`` POSTs at once, then holds every later one without a reply (its headers
    never come); ``holding`` is set when the first held request has arrived."""

    answered = 0
    lock = threading.Lock()
    count: ClassVar[list[int]] = [0]
    holding = threading.Event()
    stop = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.lock:
            self.count[0] += 1
            held = self.count[0] > self.answered
        if held:
            self.holding.set()
            self.stop.wait(HOLD_S)
            return
        self._reply(200, REPLY)


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[str, type[_AnswersThenHolds]]]:
    """A listener answering ``request.param`` POSTs (default 0), then holding the rest."""
    attrs = {
        "answered": getattr(request, "param", 0),
        "lock": threading.Lock(),
        "count": [0],
        "holding": threading.Event(),
        "stop": threading.Event(),
    }
    handler = type("Handler", (_AnswersThenHolds,), attrs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        handler.stop.set()
        server.shutdown()
        server.server_close()


def _scenario(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "serve.yaml"
    path.write_text(
        "name: hostile\nmodels: [kandinsky-2.2]\nweights: tiny\ndevice: cpu\ndtypes: [fp32]\nresolutions: [64x64]\n"
        "steps: [1]\nprior_steps: 2\nmode: serve\nserve:\n  server: url\n  api: openai\n"
        f"  target_url: {url}\n  arrivals: constant\n  rates: [4, 8]\n  max_requests: 2\n  duration_s: 30\n"
        f"  warmup: 0\n  request_timeout_s: {HOLD_S:g}\n" + extra,
        encoding="utf-8",
    )
    return path


def _start(tmp_path: Path, scenario: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "run", str(scenario), "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), **(env or {})},
    )


def _signal_when_held(proc: subprocess.Popen[str], holding: threading.Event, signum: int) -> tuple[int, str]:
    """Send ``signum`` to the command (by its PID) once the endpoint holds one of its requests; its exit code
    and stderr. Killed by PID if it outlives the generous bound."""
    try:
        assert holding.wait(WAIT_S), "the command never reached the held request"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=WAIT_S)  # far below HOLD_S: the wait for headers was given up
        return proc.returncode, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("endpoint", [2], indirect=True)
def test_sigterm_while_waiting_for_reply_headers_exits_143_promptly_with_the_finished_point(tmp_path, endpoint):
    """Reproduced: with the OpenAI-style client waiting for headers that never come, SIGTERM was answered only
    when the request timed out (here 600 s). Now the wait is given up at once: exit 143, the finished point
    kept as measured and the cut one recorded as interrupted."""
    url, handler = endpoint
    out = tmp_path / "r.serve.jsonl"
    code, err = _signal_when_held(_start(tmp_path, _scenario(tmp_path, url), out), handler.holding, signal.SIGTERM)
    assert code == 143, err
    assert "Traceback" not in err
    first, second = read_serve_results(out)
    assert isinstance(first, ServeRecord) and isinstance(second, ServeRecord)
    assert first.status == "ok" and first.offered_rate_per_s == 4 and first.completed == 2
    assert second.status == "interrupted" and second.offered_rate_per_s == 8 and second.completed == 0


@pytest.mark.parametrize("endpoint", [3], indirect=True)
def test_an_interrupted_slo_search_is_recorded_as_interrupted_and_a_cut_point_claims_no_slo(tmp_path, endpoint):
    """Reproduced: after SIGTERM the SLO record said ``status: ok`` as if the search had finished, and the cut
    point (its sent requests all answered in time) showed ``SLO ok``. Now the search is ``interrupted`` with
    ``search_complete: false`` and a reason, carries no price, and the cut point's ``slo_ok`` is empty."""
    url, handler = endpoint
    out = tmp_path / "r.serve.jsonl"
    scenario = _scenario(tmp_path, url, "  slo_p99_s: 60\n")
    code, err = _signal_when_held(_start(tmp_path, scenario, out), handler.holding, signal.SIGTERM)
    assert code == 143, err
    first, cut, slo = read_serve_results(out)
    assert isinstance(first, ServeRecord) and first.status == "ok"
    assert first.slo_ok is None and (first.slo_note or "").startswith("not judged: 2 completed requests")
    assert isinstance(cut, ServeRecord) and cut.status == "interrupted" and cut.completed == 1
    assert cut.slo_ok is None  # one request answered in time, one cut: no claim either way
    assert isinstance(slo, SloRecord)
    assert slo.status == "interrupted" and slo.search_complete is False
    assert slo.reason is not None and "SIGTERM" in slo.reason and "did not finish" in slo.reason
    assert slo.max_rate_at_slo_per_s is None and slo.usd_per_image_at_slo is None  # 2 requests judge nothing


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (["--executor", "nonsense"], "--executor 'nonsense': does not apply to serve scenarios"),
        (["--executor", "ray"], "--executor 'ray': does not apply to serve scenarios"),
        (["--save-images", "images"], "--save-images 'images': does not apply to serve scenarios"),
        (["--timeout", "30"], "--timeout 30: does not apply to serve scenarios; set serve.request_timeout_s"),
        (["--ray-num-cpus", "2"], "--ray-num-cpus 2: does not apply to serve scenarios"),
        (["--json"], "--json: does not apply to serve scenarios; a serve run's points are in its results file"),
    ],
)
def test_options_of_the_isolated_sweep_are_refused_for_a_serve_scenario(tmp_path, capsys, option, named):
    """Reproduced: ``--executor nonsense``, ``--save-images`` and ``--timeout`` were silently ignored by a serve
    run. Now each is one line naming the option, exit 2, before anything starts (no endpoint is reached)."""
    from bench.cli import main

    scenario = _scenario(tmp_path, "http://127.0.0.1:9")
    out = tmp_path / "r.serve.jsonl"
    code = main(["run", str(scenario), "--out", str(out), *option])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err == f"kbench: error: {named}" + err.split(named, 1)[1] and "\n" not in err
    assert not out.exists() and not (tmp_path / "images").exists()


def test_the_options_a_serve_run_honours_pass(tmp_path, capsys):
    """``--executor local`` asks for what a serve run does, and ``--report/--no-report`` and ``--report-dir``
    apply (a serve run writes its report where an isolated run does); passed on explicitly, the check sees
    exactly the options given (the form the run command may hand over)."""
    from bench.cli import main
    from bench.cli.serve_run import check_serve_options, report_dir

    scenario = _scenario(tmp_path, "http://127.0.0.1:9")
    assert main(["run", str(scenario), "--executor", "local", "--no-report", "--dry-run"]) == 0
    assert "1 serving configuration(s)" in capsys.readouterr().out
    check_serve_options({"executor": "local", "report": False, "max_runs": 10, "timeout": None})
    check_serve_options({"report": True, "report_dir": Path("rep")})
    assert report_dir({"report_dir": Path("rep")}) == Path("rep") and report_dir({}) == Path("reports")
    assert report_dir({"report": False, "report_dir": Path("rep")}) is None
    with pytest.raises(Exception, match=r"^--save-images 'x': does not apply to serve scenarios"):
        check_serve_options({"save_images": Path("x")})


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_folder_left_by_a_killed_serve_run_is_removed_by_the_next_and_no_live_one_is(tmp_path, endpoint):
    """Reproduced: after SIGKILL a serve run's temporary folder stayed for good. Now it sits under a per-user
    folder, named after its PID and locked while in use, and the next serve run removes it. Folders a live
    process owns stay: one named after a running PID, and one whose PID is gone but whose lock is held."""
    url, handler = endpoint
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    root = temp / f"kbench-serve-{os.getuid()}"
    proc = _start(tmp_path, _scenario(tmp_path, url), tmp_path / "r.serve.jsonl", env)
    try:
        assert handler.holding.wait(WAIT_S), "the command never reached the held request"
        (left,) = root.glob(f"{proc.pid}-*")  # the killed run's folder, named after its PID
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL and left.is_dir()

    live = root / f"{os.getpid()}-live"  # this test process is running
    live.mkdir()
    locked = root / f"{_dead_pid()}-locked"  # a gone PID, but its lock held (a run in another PID namespace)
    locked.mkdir()
    with open(locked / LOCK_NAME, "w", encoding="utf-8") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        refused = _scenario(tmp_path, "http://127.0.0.1:9")  # refused at once: the run ends in seconds
        done = subprocess.run(
            [sys.executable, "-m", "bench", "run", str(refused), "--out", str(tmp_path / "again.serve.jsonl")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
        )
        assert done.returncode == 3, done.stderr  # its points failed (connection refused): a run that started
        assert not left.exists()
        assert live.is_dir() and locked.is_dir()
        assert sorted(p.name for p in root.iterdir()) == sorted([live.name, locked.name])  # its own one removed

"""``--executor ray`` reaching Ray: the local instance (loopback only, stopped by PID even after ``kill -9``), an
address that does not answer (bounded, SIGTERM ends it with 143), Ray Client (``ray://``) and token
authentication against a real ``ray start`` cluster. Every command is a real ``python -m bench`` subprocess;
processes are found from the PIDs below it, and only those are stopped."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bench.errors import KbenchError
from bench.measure.executors import ray_reaper
from bench.measure.executors.ray_connect import CONNECT_TIMEOUT_ENV, CONNECT_TIMEOUT_S, connect_timeout_s
from bench.measure.executors.ray_target import auth_env, is_loopback, probe, target
from tests.conftest import REPO
from tests.measure.executors.hooks import read_log, set_control, write_site

ray = pytest.importorskip("ray")

AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")
CPU_SCENARIO = (
    "name: rc\nweights: tiny\ndevice: cpu\nmodels: [kandinsky-3]\nresolutions: [64x64]\nsteps: 1\nwarmup: 0\n"
    "repeats: 1\nlanguages: [en]\n"
)
GONE_WITHIN_S = 30  # generous for a busy machine; the raylet's agents outlived a killed driver by about 60 s


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without Ray's address and authentication variables (a test sets its own)."""
    return {**{k: v for k, v in os.environ.items() if k not in AUTH_VARS}, **extra}


@dataclass
class Driver:
    """A ``kbench run`` subprocess with its stderr in a file."""

    proc: subprocess.Popen[bytes]
    log: Path
    out: Path

    @property
    def err(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def last_line(self) -> str:
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""

    def finish(self, timeout: float) -> int:
        """Its exit code, or -1 when it is still running after ``timeout`` seconds."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.proc.wait(timeout=timeout)
        return -1


@contextlib.contextmanager
def kbench_run(tmp_path: Path, *options: str, env: dict[str, str]) -> Iterator[Driver]:
    """``python -m bench run SCENARIO --executor ray OPTIONS``; killed (by its PID) if still running at the end."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(CPU_SCENARIO, encoding="utf-8")
    out, log = tmp_path / "r.jsonl", tmp_path / "stderr.txt"
    cmd = [sys.executable, "-m", "bench", "run", str(scenario), "--executor", "ray", *options]
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*cmd, "--out", str(out), "--no-report"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        yield Driver(proc, log, out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(proc: psutil.Process) -> tuple[int, str]:
    try:
        return proc.pid, proc.name()
    except psutil.Error:
        return proc.pid, "?"


def _still_running_after(procs: list[psutil.Process], within_s: float = GONE_WITHIN_S) -> list[tuple[int, str]]:
    """Those of ``procs`` still running after ``within_s`` seconds (they are stopped by the test after)."""
    deadline = time.monotonic() + within_s
    left = [p for p in procs if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if _alive(p)]
    return [_describe(p) for p in left]


def _loopback_ip(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def _wait_for_child(hooks: Path, driver: Driver, within_s: float = 180) -> None:
    """Until the run's child has started (it logs itself), or the driver ended."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and driver.proc.poll() is None and not read_log(hooks):
        time.sleep(0.1)
    assert driver.proc.poll() is None and read_log(hooks), driver.err[-3000:]


@pytest.fixture
def hooks(tmp_path):
    folder = tmp_path / "hooks"
    folder.mkdir()
    site = write_site(folder)
    return folder, _env(PYTHONPATH=f"{site}{os.pathsep}{REPO}", KB_HOOKS=str(folder))


@pytest.fixture
def leftovers():
    """Processes a test found under its driver: whatever of them still runs at the end is stopped, by PID."""
    found: list[psutil.Process] = []
    yield found
    ray_reaper.stop(p for p in found if _alive(p))


# --- the local instance ------------------------------------------------------------------------------------


def test_the_local_instance_listens_on_loopback_only_and_is_gone_after_the_command(hooks, tmp_path, leftovers):
    folder, env = hooks
    set_control(folder, {"en": {"sleep": 4}})
    with kbench_run(tmp_path, "--ray-num-cpus", "1", env=env) as driver:
        _wait_for_child(folder, driver)
        root = psutil.Process(driver.proc.pid)
        leftovers.extend(root.children(recursive=True))
        exposed, names = [], set()
        for proc in [root, *leftovers]:
            with contextlib.suppress(psutil.NoSuchProcess):
                names.add(proc.name())
                for conn in proc.net_connections("inet"):
                    bound = conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and not conn.raddr)
                    if bound and not _loopback_ip(conn.laddr.ip):
                        exposed.append((proc.pid, proc.name(), conn.laddr))
        assert {"gcs_server", "raylet"} <= names  # the processes Ray started are among those looked at
        assert exposed == []
        assert driver.finish(timeout=240) == 0, driver.err[-3000:]
        assert _still_running_after(leftovers) == []  # stopped by the command itself
    record = json.loads(driver.out.read_text().splitlines()[0])
    assert record["status"] == "ok" and record["placement"]["node_ip"] == "127.0.0.1"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_every_process_of_the_local_instance_ends_with_the_driver(hooks, tmp_path, leftovers, signum):
    folder, env = hooks
    set_control(folder, {"en": {"sleep": 60}})
    with kbench_run(tmp_path, "--ray-num-cpus", "1", env=env) as driver:
        _wait_for_child(folder, driver)
        leftovers.extend(psutil.Process(driver.proc.pid).children(recursive=True))
        assert {"gcs_server", "raylet"} <= {_describe(p)[1] for p in leftovers}
        os.kill(driver.proc.pid, signum)
        code = driver.finish(timeout=60)
        assert _still_running_after(leftovers) == []
    if signum == signal.SIGTERM:
        assert code == 143, driver.err[-3000:]
        assert [json.loads(line)["status"] for line in driver.out.read_text().splitlines()] == ["interrupted"]


def test_sigterm_while_the_local_instance_starts_ends_with_143_and_no_results_file(tmp_path, leftovers):
    with kbench_run(tmp_path, env=_env()) as driver:
        root = psutil.Process(driver.proc.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and driver.proc.poll() is None and not leftovers:
            leftovers.extend(root.children(recursive=True))  # the watcher: Ray's start comes next
            time.sleep(0.02)
        time.sleep(0.5)  # inside the start, which takes seconds
        leftovers.extend(p for p in root.children(recursive=True) if p not in leftovers)
        driver.proc.send_signal(signal.SIGTERM)
        assert driver.finish(timeout=60) == 143, driver.err[-3000:]  # it was 15 (Ray's handler), after a wait
        assert _still_running_after(leftovers) == []
    assert driver.last_line == (
        "kbench: error: --executor ray: stopped by SIGTERM while starting a local Ray instance; no run was started"
    )
    assert "Traceback" not in driver.err
    assert not driver.out.exists()


# --- an address that does not answer -----------------------------------------------------------------------


def test_an_address_where_nothing_listens_is_one_line_at_once(tmp_path):
    port = _free_port()
    with kbench_run(tmp_path, "--ray-address", f"127.0.0.1:{port}", env=_env()) as driver:
        assert driver.finish(timeout=60) == 2, driver.err[-3000:]  # it waited for minutes before
    assert driver.err.strip().splitlines() == [
        f"kbench: error: --ray-address: cannot connect to 127.0.0.1:{port}: nothing listens at 127.0.0.1:{port}"
    ]
    assert not driver.out.exists()


@contextlib.contextmanager
def _silent_listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A port that accepts TCP connections and never says anything (any service that is not Ray)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_a_signal_while_connecting_ends_at_once_with_its_code_and_no_results_file(tmp_path, signum):
    with (
        _silent_listener() as (port, accepted),
        kbench_run(tmp_path, "--ray-address", f"127.0.0.1:{port}", env=_env()) as driver,
    ):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and driver.proc.poll() is None:
            if len(accepted) >= 2 or "Connecting to existing Ray cluster" in driver.err:
                break  # the probe and Ray's own connection (or Ray says so): ray.init is waiting now
            time.sleep(0.05)
        time.sleep(0.5)
        assert driver.proc.poll() is None, driver.err[-3000:]
        driver.proc.send_signal(signum)
        code = driver.finish(timeout=30)  # it ignored SIGTERM for over 30 s before, then exited 15
    assert code == 128 + signum, driver.err[-3000:]
    said = f"stopped by {signal.Signals(signum).name} while connecting to Ray at 127.0.0.1:{port}; no run was started"
    assert driver.last_line == f"kbench: error: --executor ray: {said}"
    assert "Traceback" not in driver.err
    assert not driver.out.exists()


@pytest.mark.slow
def test_an_address_that_never_answers_gives_up_within_the_stated_bound(tmp_path):
    """The bound is the one stated (here set to 3 s through its variable, so the suite does not wait 20 s)."""
    env = {**_env(), CONNECT_TIMEOUT_ENV: "3"}
    with _silent_listener() as (port, _), kbench_run(tmp_path, "--ray-address", f"localhost:{port}", env=env) as d:
        assert d.finish(timeout=CONNECT_TIMEOUT_S + 100) == 2, d.err[-3000:]
    assert f"no Ray cluster answered at localhost:{port} within 3 s" in d.last_line
    assert not d.out.exists()


def test_the_connect_bound_is_20_s_unless_its_variable_says_otherwise(monkeypatch):
    monkeypatch.delenv(CONNECT_TIMEOUT_ENV, raising=False)
    assert connect_timeout_s() == CONNECT_TIMEOUT_S == 20.0
    monkeypatch.setenv(CONNECT_TIMEOUT_ENV, "45")
    assert connect_timeout_s() == 45.0
    for bad in ("0", "nan", "1e9", "soon"):
        monkeypatch.setenv(CONNECT_TIMEOUT_ENV, bad)
        with pytest.raises(KbenchError, match=f"{CONNECT_TIMEOUT_ENV}: must be seconds from 1 to 3600"):
            connect_timeout_s()


# --- a `ray start` cluster with token authentication, and Ray Client ---------------------------------------


@dataclass(frozen=True)
class Cluster:
    gcs: int
    client: int
    token: Path


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory) -> Iterator[Cluster]:
    """``ray start --head --block`` on loopback with token authentication (its own token file and temp dir,
    short for Ray's socket paths); stopped by its PID at the end, and what it left by theirs."""
    home = tmp_path_factory.mktemp("cluster")
    token = home / "token"
    token.write_text(secrets.token_hex(32), encoding="utf-8")
    temp = tempfile.mkdtemp(prefix="kbr")
    gcs, client = _free_port(), _free_port()
    env = _env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    cmd = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--port", str(gcs)]
    cmd += ["--ray-client-server-port", str(client), "--node-ip-address", "127.0.0.1", "--num-cpus", "1"]
    cmd += ["--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp]
    log = home / "ray.log"
    with open(log, "wb") as out:
        head = subprocess.Popen(cmd, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT)
    procs: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and head.poll() is None:
            if "Ray runtime started" in log.read_text() and probe("127.0.0.1", client) is None:
                break
            time.sleep(0.2)
        assert head.poll() is None, log.read_text()[-3000:]
        yield Cluster(gcs, client, token)
    finally:
        with contextlib.suppress(psutil.Error):
            procs = psutil.Process(head.pid).children(recursive=True)
        head.terminate()
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        ray_reaper.stop(p for p in procs if _alive(p))
        shutil.rmtree(temp, ignore_errors=True)


def test_a_token_cluster_without_a_token_names_the_variables_to_set(token_cluster, tmp_path):
    home = tmp_path / "home"  # no ~/.ray/auth_token either: nothing to send
    home.mkdir()
    with kbench_run(tmp_path, "--ray-address", f"127.0.0.1:{token_cluster.gcs}", env=_env(HOME=str(home))) as d:
        assert d.finish(timeout=CONNECT_TIMEOUT_S + 100) == 2, d.err[-3000:]
    assert f"the Ray cluster at 127.0.0.1:{token_cluster.gcs} requires token authentication" in d.last_line
    assert all(v in d.last_line for v in ("RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN=", "RAY_AUTH_TOKEN_PATH="))
    assert not d.out.exists()


def test_a_wrong_token_is_refused_in_one_line(token_cluster, tmp_path):
    env = _env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    with kbench_run(tmp_path, "--ray-address", f"127.0.0.1:{token_cluster.gcs}", env=env) as d:
        assert d.finish(timeout=CONNECT_TIMEOUT_S + 100) == 2, d.err[-3000:]
    assert "refused the token" in d.last_line and "RAY_AUTH_TOKEN" in d.last_line


@pytest.mark.parametrize("client", [False, True], ids=["gcs", "ray-client"])
def test_a_token_from_the_environment_reaches_the_cluster_and_runs(token_cluster, tmp_path, client):
    address = f"ray://127.0.0.1:{token_cluster.client}" if client else f"127.0.0.1:{token_cluster.gcs}"
    env = _env(RAY_AUTH_TOKEN_PATH=str(token_cluster.token))  # no RAY_AUTH_MODE: a given token is sent
    # Ray Client's handshake can take longer than the default 20 s on a busy 2-core machine: this test is about
    # the token reaching the cluster, the bound has its own tests
    env[CONNECT_TIMEOUT_ENV] = "120"
    with kbench_run(tmp_path, "--ray-address", address, "--ray-num-cpus", "1", env=env) as driver:
        assert driver.finish(timeout=300) == 0, driver.err[-3000:]
    (record,) = [json.loads(line) for line in driver.out.read_text().splitlines()]
    assert record["status"] == "ok" and record["placement"]["executor"] == "ray"
    assert record["placement"]["node_ip"] == "127.0.0.1"


def test_ray_client_without_grpc_names_the_extra(token_cluster, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['grpc'] = None  # as if not installed\n")
    env = _env(RAY_AUTH_TOKEN_PATH=str(token_cluster.token), PYTHONPATH=f"{site}{os.pathsep}{REPO}")
    with kbench_run(tmp_path, "--ray-address", f"ray://127.0.0.1:{token_cluster.client}", env=env) as driver:
        assert driver.finish(timeout=120) == 2, driver.err[-3000:]  # it was 70, an internal error
    assert "Ray Client needs 'grpc'" in driver.last_line
    assert "pip install 'kandinsky-bench[ray]'" in driver.last_line
    assert not driver.out.exists()


# --- what an address means ---------------------------------------------------------------------------------


def test_addresses_and_ray_address_are_read_as_ray_reads_them(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert target(None).local and target(None).init_address == "local"
    assert target("auto").init_address == "auto"
    six = target("[::1]:6379")
    assert (six.host, six.port, six.client, six.on_this_machine) == ("::1", 6379, False, True)
    assert target("ray://head.example:10001").client
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    auto = target("auto")
    assert (auto.host, auto.port, auto.shown) == ("10.0.0.5", 6379, "10.0.0.5:6379 (RAY_ADDRESS)")
    assert target(None).local  # RAY_ADDRESS does not turn the local instance into a connection
    monkeypatch.setenv("RAY_ADDRESS", "nonsense")
    with pytest.raises(KbenchError, match="RAY_ADDRESS='nonsense' is not HOST:PORT"):
        target("auto")
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.5")


def test_a_token_is_sent_where_the_user_gave_one_or_to_this_machine_only(monkeypatch, tmp_path):
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert auth_env(target("127.0.0.1:6379")) == {}  # no token anywhere
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("t")
    assert auth_env(target("127.0.0.1:6379")) == {"RAY_AUTH_MODE": "token"}  # this machine's default token
    assert auth_env(target("10.0.0.5:6379")) == {}  # never to another machine unasked
    monkeypatch.setenv("RAY_AUTH_TOKEN", "t")
    assert auth_env(target("ray://10.0.0.5:10001")) == {"RAY_AUTH_MODE": "token"}  # given: sent
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert auth_env(target("127.0.0.1:6379")) == {}  # the user's choice stands
    assert auth_env(target(None)) == {}


def test_probe_says_why_nothing_answers():
    port = _free_port()
    assert probe("127.0.0.1", port) == f"nothing listens at 127.0.0.1:{port}"
    with _silent_listener() as (open_port, _):
        assert probe("127.0.0.1", open_port) is None

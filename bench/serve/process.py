"""A kbench server in its own child process: started, waited on until healthy, and stopped by its PID.

The server leads its own session (so a terminal's Ctrl-C reaches only the driver and the whole group can be
killed at once) and carries the lifeline (:mod:`bench.measure.lifeline`), so it also dies with its driver
within a second. A server that exits before it is healthy, or is not healthy by the deadline, is a
:class:`ServerFailure` with the reason and the tail of its log: a recorded failure, never a hang.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.files import read_tail
from bench.measure.interrupts import kill_group
from bench.measure.lifeline import PARENT_ENV
from bench.serve.engine import ServerConfig
from bench.serve.host import EXIT_PORT_IN_USE, HEALTH_PATH, HOST

MODULES = {"gradio": "bench.serve.app_gradio", "openai": "bench.serve.app_openai"}
HEALTH_POLL_S = 0.25
STOP_GRACE_S = 3.0
LOG_TAIL_CHARS = 600


class ServerFailure(Exception):
    """The server could not be started or died; ``str()`` is the reason a record carries."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (the server binds it first thing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One server child: ``python -m bench.serve.app_<kind> CONFIG.json PORT``, log in ``workdir``."""

    def __init__(self, kind: str, config: ServerConfig, workdir: Path, *, port: int | None = None) -> None:
        if kind not in MODULES:
            raise ValueError(f"no kbench server of kind {kind!r}; kinds: {', '.join(MODULES)}")
        self.kind, self.config, self.workdir = kind, config, workdir
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = workdir / f"server-{kind}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        config_path = self.workdir / f"server-{self.port}.json"
        config_path.write_text(self.config.model_dump_json(), encoding="utf-8")
        env = {**os.environ, PARENT_ENV: str(os.getpid()), "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": HOST}
        # Gradio keeps the images it serves in its cache folder (the system's temporary one by default): in the
        # run's folder they go with it (bench.serve.workdirs), even after a kill -9
        env["GRADIO_TEMP_DIR"] = str(self.workdir / f"gradio-{self.port}")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", MODULES[self.kind], str(config_path), str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def exit_reason(self) -> str | None:
        """Why the server is gone (exit code or signal, with its log's last lines), or None while it runs."""
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        if code == EXIT_PORT_IN_USE:
            how = f"port {self.port} is in use"
        elif code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = f"exit code {code}"
        tail = self.log_tail()
        return f"server {self.kind} (pid {self.proc.pid}) exited: {how}" + (f"; log: {tail}" if tail else "")

    def log_tail(self) -> str:
        try:
            text = read_tail(self.log_path, 8192)[0].decode("utf-8", "replace")  # a log may have grown unbounded
        except OSError:
            return ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "Warning" not in ln]
        return " | ".join(lines[-3:])[-LOG_TAIL_CHARS:]

    def wait_healthy(self, timeout_s: float, should_stop: Callable[[], bool] = lambda: False) -> float:
        """Seconds until ``GET /health`` answered 200.

        Raises:
            ServerFailure: the server exited first, or did not answer within ``timeout_s``.
        """
        import httpx

        started = time.monotonic()
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                if reason := self.exit_reason():
                    raise ServerFailure(f"did not start: {reason}")
                if should_stop():
                    raise ServerFailure("interrupted while the server was starting")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + HEALTH_PATH).status_code == 200:
                        return time.monotonic() - started
                if time.monotonic() - started > timeout_s:
                    raise ServerFailure(f"did not become healthy within {timeout_s:g} s; log: {self.log_tail()}")
                time.sleep(HEALTH_POLL_S)

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after a short grace; reap it."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_GRACE_S)
        kill_group(proc)  # whatever of its group is left (its own children), even after it exited
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_GRACE_S)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["MODULES", "ServerFailure", "ServerProcess", "free_port"]

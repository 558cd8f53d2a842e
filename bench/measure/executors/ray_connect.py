"""Connecting ``--executor ray`` to Ray: a local instance on loopback only, or a cluster, within a time bound.

* **No ``--ray-address``**: a local Ray instance whose every process (GCS server, raylet, agents, workers and
  this driver) listens on ``127.0.0.1`` only, since the instance exists for this sweep alone and nothing
  elsewhere should reach it. It is stopped at the end (``ray.shutdown``, then, by PID, whatever of it is still
  running), and a watcher process (:mod:`~bench.measure.executors.ray_reaper`) stops it if the sweep process is
  killed outright. ``RAY_ADDRESS`` does not redirect it to a cluster: that takes ``--ray-address auto``.
* **``--ray-address HOST:PORT`` or ``ray://HOST:PORT``**: first a plain TCP connection to the port
  (:data:`PROBE_TIMEOUT_S`), so that an address where nothing listens is one line at once; then ``ray.init``
  in a helper thread, given up after :data:`CONNECT_TIMEOUT_S` in all (Ray's own retries against an address
  that does not answer as Ray last minutes, in native code that does not let a signal handler run).
* **Signals** while connecting (or while stopping the instance): SIGINT, SIGTERM and SIGHUP are noted, the
  attempt is given up at once, and the command ends with ``128 + signal`` before any run started, its results
  file removed again if the sweep created it (:class:`RayStopped`).
* **Token authentication** (Ray 2.60 and later: on by default for clusters started with ``ray start`` once a
  token exists, and for local instances): ``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN`` and ``RAY_AUTH_TOKEN_PATH``
  pass through to Ray from the environment. Ray sends a token only to a cluster it found itself
  (``auto``); here a token is also sent when ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH`` is set (the user
  gave one) and, for an address on this machine, when the default token file exists. A token is never sent
  to another machine unasked. A failure that looks like authentication says which variables to set.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from bench.errors import KbenchError
from bench.measure.executors import ray_reaper
from bench.measure.executors.ray_target import (
    AUTH_MODE,
    PROBE_TIMEOUT_S,
    Target,
    Unreachable,
    auth_env,
    failure,
    is_loopback,
    probe,
    target,
    timeout_message,
)
from bench.measure.interrupts import SweepGuard

CONNECT_TIMEOUT_S = 20.0  # the whole attempt to reach a cluster at --ray-address: probe, ray.init
CONNECT_TIMEOUT_ENV = "KBENCH_RAY_CONNECT_TIMEOUT_S"  # a slower network (or a test) may set another bound
LOCAL_START_TIMEOUT_S = 120.0  # starting a local instance (Ray's own start-up waits are shorter)
GCS_TRIES = 8  # ray.init's attempts (about a second each) at a GCS that answers but refuses this driver
WAIT_S = 0.1
FINISH_WAIT_S = 3.0  # after a signal: how long a local start may take to finish before it is cut off
ABANDON_GRACE_S = 0.5  # SIGTERM to SIGKILL for the processes of a local start given up (some ignore SIGTERM)
LOOPBACK = "127.0.0.1"
GCS_TRIES_ENV = "RAY_gcs_server_port_wait_time_s"


class RayStopped(KbenchError):
    """A signal arrived while Ray was connecting or stopping: the command ends with ``128 + signal``."""

    def __init__(self, signum: int, doing: str, after: str = "no run was started") -> None:
        name = signal.Signals(signum).name
        super().__init__(f"--executor ray: stopped by {name} while {doing}; {after}")
        self.exit_code = 128 + signum


class _Latch(SweepGuard):
    """Notes SIGINT, SIGTERM and SIGHUP instead of acting on them; the main thread then gives up what it waits
    for. Unlike a sweep, a first Ctrl-C stops at once: no run has started that could be let finish. As for a
    sweep, a signal is delivered again to the host program's own handler when kbench runs inside one."""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal in (None, signal.SIGINT):  # a termination signal names the exit code
            self.stop_signal = signum
        self.abort = True


class _QuietThreadWarning(logging.Filter):
    """Drops Ray's warning that ``ray.init`` outside the main thread leaves SIGTERM alone: that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SIGTERM handler is not set")


def _set_env(values: dict[str, str | None]) -> None:
    """Set (or, for None, remove) variables, and let Ray's cached configuration see the authentication mode."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if AUTH_MODE in values:
        with contextlib.suppress(Exception):  # Ray reads RAY_AUTH_MODE into its native configuration once
            importlib.import_module("ray._raylet").Config.initialize("")


@contextlib.contextmanager
def _driver_constants(ray: Any, loopback: bool) -> Iterator[None]:
    """Ray's settings for this process while ``ray.init`` runs (module constants Ray reads at that moment).

    * The failure signal handler of Ray's native core worker stays out of this process: it would take SIGTERM
      from the handlers kbench installs (it prints a native stack and may abort, exit code 134), and signals
      here are kbench's (:mod:`bench.measure.interrupts`). Ray's own processes keep theirs.
    * ``loopback``: Ray takes this machine's address to be ``127.0.0.1``. ``ray.init`` replaces a loopback
      ``_node_ip_address`` with the machine's outward address unless Ray is in its single-machine mode (the
      default on macOS and Windows); in that mode every process it starts binds to the node address, here
      loopback, instead of all interfaces.
    """
    constants = ray._private.ray_constants
    values = {"RAY_DISABLE_FAILURE_SIGNAL_HANDLER": True, **({"ENABLE_RAY_CLUSTER": False} if loopback else {})}
    before = {name: getattr(constants, name) for name in values if hasattr(constants, name)}
    for name, value in values.items():
        setattr(constants, name, value)
    try:
        yield
    finally:
        for name in values:
            if name in before:
                setattr(constants, name, before[name])
            else:
                delattr(constants, name)


def _bound_to_loopback(ray: Any, port: int) -> bool:
    """Whether a cluster reached on loopback is not reachable at this machine's outward address, where ray.init
    would connect (it turns ``127.0.0.1`` into that address): then it is a cluster started on loopback only."""
    outward = ray.util.get_node_ip_address()
    return is_loopback(outward) or probe(outward, port, timeout_s=1.0) is not None


def _init_kwargs(tgt: Target, num_cpus: int, loopback: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"address": tgt.init_address, "log_to_driver": False}
    if tgt.local:
        kwargs.update(num_cpus=num_cpus, include_dashboard=False)
    if loopback:
        kwargs["_node_ip_address"] = LOOPBACK
    return kwargs


class _Starter(threading.Thread):
    """Runs the attempt, then stays alive until released: Ray's GCS server and raylet are started with
    ``PR_SET_PDEATHSIG``, which the kernel sends when the *thread* that started them ends."""

    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__(name="kbench-ray-connect", daemon=True)
        self.work = work
        self.done = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()
        self.release.wait()


class _Watcher:
    """The :mod:`~bench.measure.executors.ray_reaper` process for a local instance (started before it)."""

    def __init__(self) -> None:
        self.before = ray_reaper.snapshot(os.getpid())
        self.proc = subprocess.Popen(
            # -I: the script's folder (this package, with its ray.py) is not put first on sys.path
            [sys.executable, "-I", ray_reaper.__file__, str(os.getpid()), json.dumps(sorted(self.before))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's signals and a group kill of the sweep do not reach it
        )

    def started(self) -> list[Any]:
        """The processes started under this one since the watcher began (Ray's), the watcher left out."""
        return ray_reaper.started_since(os.getpid(), self.before, exclude=(self.proc.pid,))

    def close(self) -> None:
        """Let the watcher stop what is left and exit (it stops nothing that already ended)."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=2 * ray_reaper.GRACE_S + 5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class RaySession:
    """One connection made by :func:`open_ray`: closed with :meth:`close` (the instance stopped if it is ours)."""

    ray: Any
    tgt: Target
    starter: _Starter
    watcher: _Watcher | None
    env_before: dict[str, str | None] = field(default_factory=dict)

    def close(self) -> int | None:
        """Disconnect (a local instance: stop it, by PID what ``ray.shutdown`` left); the signal that came
        meanwhile, if any (it waits for the instance to be gone)."""
        with _Latch() as latch:
            leftover = self.watcher.started() if self.watcher is not None else []  # before the raylet dies
            finished = self.starter.done.is_set()
            if not finished:
                _quiet_ray_threads()  # before its processes are stopped, which ends Ray's threads
            if finished and self.ray.is_initialized():
                with contextlib.suppress(Exception):
                    self.ray.shutdown()
            ray_reaper.stop(leftover, ray_reaper.GRACE_S if finished else ABANDON_GRACE_S)
            self.starter.release.set()
            if self.watcher is not None:
                if finished:
                    self.watcher.close()
                else:  # ray.init still runs and may start more: the watcher stops those when this process ends
                    _ABANDONED.append(self.watcher)
            if not finished:
                # Ray's own exit hook (``ray.shutdown``, registered when ray is imported) would wait on the half
                # started instance the watcher has stopped, for a minute or more after the command has said why
                # it stopped; what that instance started is the watcher's to stop, by PID.
                atexit.unregister(self.ray.shutdown)
            _set_env(self.env_before)
        return latch.stop_signal


_ABANDONED: list[_Watcher] = []  # watchers of a start given up: their pipe stays open until this process exits


def _quiet_ray_threads() -> None:
    """Ray's background threads of a start given up die when the watcher stops its processes (their RPCs are
    refused); their tracebacks say nothing the command's one line has not said, so they are not printed. Other
    threads' exceptions go to the hook that was there before."""
    before = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.thread is not None and args.thread.name.startswith("ray_"):
            return
        before(args)

    threading.excepthook = hook


def abandoned_ray_start() -> bool:
    """Whether this process gave up a local Ray start half way (a signal came): ``ray.init`` still runs in a
    thread, so the ``kbench`` command ends without the interpreter's teardown (see :func:`bench.cli.entry`)."""
    return bool(_ABANDONED)


def connect_timeout_s() -> float:
    """The bound on reaching a cluster: :data:`CONNECT_TIMEOUT_S`, or ``KBENCH_RAY_CONNECT_TIMEOUT_S`` when set.

    Raises:
        KbenchError: the variable is not a number of seconds from 1 to 3600.
    """
    text = os.environ.get(CONNECT_TIMEOUT_ENV, "").strip()
    if not text:
        return CONNECT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 1.0 <= value <= 3600.0:
        raise KbenchError(f"{CONNECT_TIMEOUT_ENV}: must be seconds from 1 to 3600, got {text[:40]!r}")
    return value


def open_ray(ray: Any, address: str | None, num_cpus: int) -> RaySession:
    """Start a local instance (``address`` None) or connect to ``address``, within the bounds of the module doc.

    Raises:
        RayStopped: a signal arrived meanwhile (exit code ``128 + signal``).
        KbenchError: the cluster cannot be reached, refuses this driver, or does not answer in time.
    """
    tgt = target(address)
    env = auth_env(tgt)
    if not tgt.local and GCS_TRIES_ENV not in os.environ:
        env[GCS_TRIES_ENV] = str(GCS_TRIES)  # a refusal (a missing token) is then reported, not waited out
    session = RaySession(ray, tgt, _Starter(lambda: _attempt(ray, tgt, num_cpus)), None)
    session.env_before = {name: os.environ.get(name) for name in {*env, AUTH_MODE}}
    _set_env(dict(env))
    quiet = _QuietThreadWarning()
    logging.getLogger("ray._private.worker").addFilter(quiet)
    try:
        if tgt.local:
            session.watcher = _Watcher()
        limit = LOCAL_START_TIMEOUT_S if tgt.local else connect_timeout_s()
        with _Latch() as latch:
            session.starter.start()
            deadline = time.monotonic() + limit
            while not session.starter.done.wait(WAIT_S) and not latch.stopping and time.monotonic() < deadline:
                pass
    except BaseException:
        session.close()
        raise
    finally:
        logging.getLogger("ray._private.worker").removeFilter(quiet)
    doing = "starting a local Ray instance" if tgt.local else f"connecting to Ray at {tgt.shown}"
    error: BaseException | None = None
    if latch.stop_signal is None and not session.starter.done.is_set():
        error = KbenchError(timeout_message(tgt, limit))
    elif latch.stop_signal is None and session.starter.error is not None:
        error = failure(tgt, session.starter.error)  # before close(): it puts the variables back
    if latch.stop_signal is not None or error is not None:
        if tgt.local:  # a start about to finish is stopped cleanly rather than cut off
            session.starter.done.wait(FINISH_WAIT_S)
        stopped = session.close() or latch.stop_signal
        if stopped is not None:
            raise RayStopped(stopped, doing)
        assert error is not None
        raise error
    if GCS_TRIES_ENV in env:
        _set_env({GCS_TRIES_ENV: session.env_before.get(GCS_TRIES_ENV)})
    return session


def _attempt(ray: Any, tgt: Target, num_cpus: int) -> None:
    """The blocking part, in the helper thread: probe, then ``ray.init``."""
    loopback = tgt.local
    if tgt.client:
        import grpc  # noqa: F401  (Ray Client's transport: missing with a Ray installed without ray[client])
    if tgt.host is not None and tgt.port is not None:
        if reason := probe(tgt.host, tgt.port):
            raise Unreachable(reason)
        loopback = not tgt.client and is_loopback(tgt.host) and _bound_to_loopback(ray, tgt.port)
    with _driver_constants(ray, loopback):
        ray.init(**_init_kwargs(tgt, num_cpus, loopback))


__all__ = [
    "CONNECT_TIMEOUT_ENV",
    "CONNECT_TIMEOUT_S",
    "LOCAL_START_TIMEOUT_S",
    "PROBE_TIMEOUT_S",
    "RaySession",
    "RayStopped",
    "Target",
    "abandoned_ray_start",
    "auth_env",
    "connect_timeout_s",
    "failure",
    "is_loopback",
    "open_ray",
    "probe",
    "target",
]

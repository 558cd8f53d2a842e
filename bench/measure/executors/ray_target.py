"""Where ``--ray-address`` points and what goes there: the target, a TCP probe, token mode, one-line failures.

Split from :mod:`~bench.measure.executors.ray_connect` (which starts or reaches Ray within its time bounds):
these are pure functions of the address and the environment, testable without Ray. Token authentication (Ray
2.60 and later): ``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN`` and ``RAY_AUTH_TOKEN_PATH`` pass through; a token is
sent where the user gave one, or to an address on this machine when the default token file exists, never to
another machine unasked.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from bench.errors import KbenchError

PROBE_TIMEOUT_S = 5.0  # the TCP connection to the address, before Ray is asked
AUTH_MODE, AUTH_TOKEN, AUTH_TOKEN_PATH = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_FILE = "~/.ray/auth_token"
TOKEN_HINT = (
    f"set {AUTH_MODE}=token and {AUTH_TOKEN}=<the cluster's token> or {AUTH_TOKEN_PATH}=<a file holding it> "
    f"(default {DEFAULT_TOKEN_FILE}; `ray get-auth-token` on the head node prints it)"
)
_ADDRESS = re.compile(r"(?P<client>ray://)?(?P<host>[^\s\[\]]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})")
_AUTH_WORDS = ("unauthenticated", "invalidauthtoken", "authentication token", "authenticationerror")


@dataclass(frozen=True)
class Target:
    """Where ``ray.init`` goes: ``init_address`` (``local`` starts an instance), the host and port probed first."""

    shown: str
    init_address: str
    host: str | None = None
    port: int | None = None
    client: bool = False

    @property
    def local(self) -> bool:
        return self.init_address == "local"

    @property
    def on_this_machine(self) -> bool:
        return self.local or (self.host is not None and is_loopback(self.host))


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface (``localhost``, ``127.x.x.x``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def target(address: str | None) -> Target:
    """What ``--ray-address`` (None: a local instance) means; ``auto`` takes ``RAY_ADDRESS`` when it is set.

    Raises:
        KbenchError: ``RAY_ADDRESS`` holds no address Ray could use.
    """
    if address is None:
        return Target("a local Ray instance", "local")
    shown = address
    if address == "auto":
        env = os.environ.get("RAY_ADDRESS", "").strip()
        if not env or env == "auto":
            return Target("auto (the cluster `ray start` recorded on this machine)", "auto")
        match = _ADDRESS.fullmatch(env)
        if env == "local" or not match or not 0 < int(match["port"]) < 65536:
            raise KbenchError(f"--ray-address auto: RAY_ADDRESS={env[:200]!r} is not HOST:PORT or ray://HOST:PORT")
        address, shown = env, f"{env} (RAY_ADDRESS)"
    match = _ADDRESS.fullmatch(address)
    if match is None:  # check_ray_address has refused it before; kept for callers that did not check
        raise KbenchError(f"--ray-address: {address[:200]!r} is not auto, HOST:PORT or ray://HOST:PORT")
    host = match["host"].strip("[]")
    return Target(shown, address, host, int(match["port"]), client=bool(match["client"]))


def probe(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why nothing can be reached at ``host:port`` over TCP (None when something accepts the connection)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except socket.gaierror:
        return f"cannot resolve host {host!r}"
    except ConnectionRefusedError:
        return f"nothing listens at {host}:{port}"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s:g} s"
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc.strerror or exc})"


def _token_available() -> bool:
    if os.environ.get(AUTH_TOKEN, "").strip():
        return True
    path = os.environ.get(AUTH_TOKEN_PATH) or DEFAULT_TOKEN_FILE
    return Path(path).expanduser().is_file()


def auth_env(tgt: Target) -> dict[str, str]:
    """The variables to set for the connection: token mode where a token is there to send (see the module doc).

    ``RAY_AUTH_MODE`` when set is the user's choice and is left alone; a new local instance is Ray's business.
    """
    if os.environ.get(AUTH_MODE) is not None or tgt.local:
        return {}
    given = bool(os.environ.get(AUTH_TOKEN, "").strip() or os.environ.get(AUTH_TOKEN_PATH))
    if given or (tgt.on_this_machine and _token_available()):
        return {AUTH_MODE: "token"}
    return {}


class Unreachable(Exception):
    """Nothing answers at the address over TCP."""


def timeout_message(tgt: Target, limit: float) -> str:
    if tgt.local:
        return f"--executor ray: Ray did not start a local instance within {limit:g} s"
    hint = "" if os.environ.get(AUTH_MODE) == "token" else f"; a cluster with token authentication: {TOKEN_HINT}"
    return (
        f"--ray-address: no Ray cluster answered at {tgt.shown} within {limit:g} s (HOST:PORT is the GCS port "
        f"of `ray start --head`, ray://HOST:PORT its Ray Client port){hint}"
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def failure(tgt: Target, exc: BaseException) -> BaseException:
    """The one-line error for a failed ``ray.init`` (a local start that failed keeps its own exception)."""
    if isinstance(exc, Unreachable):
        return KbenchError(f"--ray-address: cannot connect to {tgt.shown}: {exc}")
    chain = _chain(exc)
    missing = next((e for e in chain if isinstance(e, ImportError)), None)
    if missing is not None and tgt.client:
        module = getattr(missing, "name", None) or "grpc"
        return KbenchError(
            f"--ray-address {tgt.shown}: Ray Client needs {module!r}, which is not installed: "
            "pip install 'kandinsky-bench[ray]' (it installs ray[client])"
        )
    if tgt.local:
        return exc
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain).lower()
    if any(word in text for word in _AUTH_WORDS):
        if os.environ.get(AUTH_MODE) != "token":
            return KbenchError(
                f"--ray-address: the Ray cluster at {tgt.shown} requires token authentication and no token was "
                f"sent: {TOKEN_HINT}"
            )
        if "no authentication token was found" in text:
            return KbenchError(f"--ray-address: {AUTH_MODE}=token but no token was found: {TOKEN_HINT}")
        return KbenchError(f"--ray-address: the Ray cluster at {tgt.shown} refused the token: {TOKEN_HINT}")
    hint = "" if os.environ.get(AUTH_MODE) == "token" else f"; a cluster with token authentication: {TOKEN_HINT}"
    return KbenchError(f"--ray-address: cannot connect to {tgt.shown} ({_first_line(exc)}){hint}")


__all__ = [
    "AUTH_MODE",
    "AUTH_TOKEN",
    "AUTH_TOKEN_PATH",
    "DEFAULT_TOKEN_FILE",
    "PROBE_TIMEOUT_S",
    "TOKEN_HINT",
    "Target",
    "Unreachable",
    "auth_env",
    "failure",
    "is_loopback",
    "probe",
    "target",
    "timeout_message",
]

"""What both kbench servers share: the process start (lifeline, config, engine), the health and device
endpoints on the FastAPI app, and uvicorn bound to 127.0.0.1.

``GET /health`` answers once the pipeline is built (the app is served only then); ``GET /kbench/device?start=
&end=`` returns the samplers' :class:`~bench.results.serving.ServeDevice` for a wall-clock window.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from bench.serve.engine import Engine, ServerConfig, read_config

HOST = "127.0.0.1"  # kbench's servers never listen beyond this machine
DEVICE_PATH = "/kbench/device"
HEALTH_PATH = "/health"


EXIT_PORT_IN_USE = 98  # errno EADDRINUSE


def start_engine(argv: list[str]) -> tuple[ServerConfig, Engine, socket.socket]:
    """``CONFIG.json PORT``: arm the lifeline (the server dies with its driver), bind the port, then build.

    The port is bound before the pipeline is built, so a port in use fails in a second, not after a model
    load; it listens only once the app is served, so a health check before that is refused, not left waiting.
    """
    from bench.measure import lifeline

    lifeline.arm()
    if len(argv) != 2:
        raise SystemExit("usage: python -m bench.serve.<server> CONFIG.json PORT")
    config = read_config(argv[0])
    port = int(argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        print(f"kbench server: cannot bind {HOST}:{port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_PORT_IN_USE)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    return config, Engine(config), sock


def add_host_routes(app: Any, engine: Engine) -> None:
    """The health and device-window endpoints (added before anything mounted at ``/``)."""

    @app.get(HEALTH_PATH)
    def health() -> dict[str, object]:
        return {"status": "ok", "run_key": engine.spec.run_key, "pid": os.getpid()}

    @app.get(DEVICE_PATH)
    def device(start: float, end: float) -> dict[str, object]:
        return engine.device_window(start, min(end, max(start, end))).model_dump(mode="json")


def serve_forever(app: Any, sock: socket.socket) -> int:
    """Run uvicorn on the bound socket until killed."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 1


def exit_with(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


__all__ = [
    "DEVICE_PATH",
    "EXIT_PORT_IN_USE",
    "HEALTH_PATH",
    "HOST",
    "add_host_routes",
    "exit_with",
    "serve_forever",
    "start_engine",
]

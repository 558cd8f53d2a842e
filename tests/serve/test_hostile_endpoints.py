"""The OpenAI-style client against hostile endpoints on 127.0.0.1: a reply that drips a byte at a time, a body
that never ends, a load point stopped mid-reply. Each request ends within its own timeout (connect, send and the
whole body, not each read), reads at most its byte cap, and gives up when the load point stops."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.serve.clients import OpenAITarget
from bench.serve.engine import GenRequest

DRIP_S = 60.0  # how long the dripping server would keep a request open: every bound below is far under it


class _Hostile(BaseHTTPRequestHandler):
    stop = threading.Event()
    mode = "drip"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(10**12))
        self.end_headers()
        started = time.monotonic()
        chunk = b" " if self.mode == "drip" else b"x" * (1 << 16)
        while not self.stop.is_set() and time.monotonic() - started < DRIP_S:
            try:
                self.wfile.write(chunk)
                self.wfile.flush()
            except OSError:  # the client hung up: what a bounded client does
                return
            if self.mode == "drip":
                time.sleep(0.1)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_Hostile,), {"mode": request.param, "stop": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        handler.stop.set()
        server.shutdown()
        server.server_close()


REQUEST = GenRequest(prompt="a red fox", steps=1, seed=1)


@pytest.mark.parametrize("endpoint", ["drip"], indirect=True)
def test_a_dripping_reply_is_a_timeout_within_the_request_timeout(endpoint):
    target = OpenAITarget(endpoint, timeout_s=1.0)
    try:
        outcome = target.send(REQUEST)
    finally:
        target.close()
    assert outcome.status == "timeout" and "whole reply" in (outcome.error or "")
    assert outcome.latency_s < DRIP_S / 4  # ended by its own deadline, not by the server giving up


@pytest.mark.parametrize("endpoint", ["drip"], indirect=True)
def test_a_stopped_load_point_gives_up_a_reply_under_way(endpoint):
    target = OpenAITarget(endpoint, timeout_s=DRIP_S)
    stop_at = time.monotonic() + 0.5
    try:
        outcome = target.send(REQUEST, lambda: time.monotonic() > stop_at)
    finally:
        target.close()
    assert outcome.status == "failed" and outcome.error == "stopped before the reply came"
    assert outcome.latency_s < DRIP_S / 4


@pytest.mark.parametrize("endpoint", ["endless"], indirect=True)
def test_an_endless_body_is_read_up_to_the_byte_cap_only(endpoint):
    cap = 4 * 1024 * 1024
    target = OpenAITarget(endpoint, timeout_s=DRIP_S, max_reply_bytes=cap)
    tracemalloc.start()
    try:
        outcome = target.send(REQUEST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        target.close()
    assert outcome.status == "failed" and "byte cap" in (outcome.error or "")
    assert peak < 3 * cap  # the body was not kept growing

"""Stub OpenAI-style images endpoints on 127.0.0.1, run in the test process (no pipeline, no child process).

:class:`Strict` answers like a strict OpenAI-compatible server: only ``POST /v1/images/generations``, a bearer
key required, OpenAI's fields only (anything else is a 400 in OpenAI's error envelope). It can answer images as
``b64_json`` or as a ``url`` to fetch (from itself or from a second stub, another origin), and it serves its
requests one at a time for ``service_s`` each, reporting kbench's server-side timing when ``timing`` is set.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_FIELDS = {
    "prompt", "model", "n", "size", "response_format", "quality", "style", "user", "background", "moderation",
    "output_compression", "output_format", "stream", "partial_images",
}  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64  # enough of an image for a client that only fetches it


@dataclass
class StubState:
    """What a stub is set to do, and what it saw (shared by its handler threads)."""

    key: str | None = None  # the bearer key it requires (None: any)
    allowed: set[str] = field(default_factory=lambda: set(OPENAI_FIELDS))
    answer: str = "b64_json"  # or "url": the image to fetch from image_base
    image_base: str = ""  # where a url answer points ("" : this stub)
    service_s: float = 0.0  # each request holds the one worker this long
    timing: bool = False  # add kbench's server-side timing to each reply
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    image_auth: list[str | None] = field(default_factory=list)  # the Authorization header of each image fetch
    lock: threading.Lock = field(default_factory=threading.Lock)
    worker: threading.Lock = field(default_factory=threading.Lock)


class QuietHandler(BaseHTTPRequestHandler):
    """The base of every test endpoint here: a whole reply in one call, GET answered 404, no access log."""

    def _reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Handler(QuietHandler):
    state: StubState

    def _error(self, status: int, message: str, param: str | None = None) -> None:
        error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
        self._reply(status, json.dumps({"error": error}).encode())

    def do_GET(self) -> None:
        if self.path.startswith("/files/"):
            with self.state.lock:
                self.state.image_auth.append(self.headers.get("Authorization"))
            self._reply(200, PNG, "image/png")
            return
        self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        arrived = time.time()
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        state = self.state
        with state.lock:
            state.paths.append(self.path)
            state.headers.append(dict(self.headers.items()))
        if self.path != "/v1/images/generations":
            self._error(404, f"no route {self.path}")
            return
        given = self.headers.get("Authorization", "")
        if state.key is not None and given != f"Bearer {state.key}":
            shown = given.removeprefix("Bearer ")  # as some real servers do: the refused key quoted back
            self._error(401, f"Incorrect API key provided: {shown}")
            return
        body = json.loads(raw)
        with state.lock:
            state.bodies.append(body)
        unknown = sorted(set(body) - state.allowed)
        if unknown:
            self._error(400, f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
            return
        with state.worker:  # one request served at a time, as on one GPU
            started = time.time()
            time.sleep(state.service_s)
            finished = time.time()
        if state.answer == "url":
            base = state.image_base or f"http://127.0.0.1:{self.server.server_address[1]}"
            item = {"url": f"{base}/files/{len(state.bodies)}.png?sig=secret-signature"}
        else:
            item = {"b64_json": ""}
        reply: dict[str, Any] = {"created": int(finished), "data": [item]}
        if state.timing:
            reply["kbench"] = {"arrived_s": arrived, "started_s": started, "finished_s": finished, "batch": 1}
        self._reply(200, json.dumps(reply).encode())


@contextmanager
def stub(state: StubState) -> Iterator[str]:
    """A stub endpoint with ``state``; yields its root URL (``http://127.0.0.1:PORT``), shut down after."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

"""The OpenAI-style client against hostile endpoints on 127.0.0.1: a reply that drips a byte at a time, a body
that never ends, a load point stopped mid-reply. Each request ends within its own timeout (connect, send and the
whole body, not each read), reads at most its byte cap, and gives up when the load point stops."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from bench.serve.clients import OpenAITarget
from bench.serve.engine import GenRequest
from tests.serve.stubs import QuietHandler

DRIP_S = 60.0  # how long the dripping server would keep a request open: every bound below is far under it


class _Hostile(QuietHandler):
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
    # the request's deadline or httpx's own read timeout (the same second) ends it, whichever a busy machine
    # schedules first: both are a timeout within the bound
    assert outcome.status == "timeout" and "timed out" in (outcome.error or "")
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


class _Refuses(QuietHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._reply(400, b'{"error": {"message": "unknown field steps", "type": "invalid_request_error"}}')


def test_a_load_point_where_every_request_failed_is_failed_and_the_command_exits_3(tmp_path, capsys):
    """An endpoint answering HTTP 400 to everything: no load point may read as measured (``ok``)."""
    from bench.cli import main
    from bench.results.serving import read_serve_results

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scenario = tmp_path / "url.yaml"
    scenario.write_text(
        "name: url\nmodels: [kandinsky-2.2]\nweights: tiny\ndevice: cpu\ndtypes: [fp32]\nresolutions: [64x64]\n"
        "steps: [1]\nprior_steps: 2\nmode: serve\nserve:\n  server: url\n  api: openai\n"
        f"  target_url: http://127.0.0.1:{server.server_address[1]}\n  arrivals: constant\n  rates: [5]\n"
        "  max_requests: 4\n  duration_s: 5\n  request_timeout_s: 5\n",
        encoding="utf-8",
    )
    out = tmp_path / "r.serve.jsonl"
    try:
        code = main(["run", str(scenario), "-o", str(out), "--no-report"])
    finally:
        server.shutdown()
        server.server_close()
    assert code == 3, capsys.readouterr().err
    (point,) = read_serve_results(out)
    assert point.status == "failed" and point.completed == 0 and point.failed == 4
    assert point.reason is not None and "none of 4 requests completed" in point.reason and "HTTP 400" in point.reason


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_a_base_url_with_or_without_v1_posts_to_one_route(suffix):
    """The openai client's convention (``http://host/v1``) and the bare root reach the same route."""
    paths: list[str] = []

    class Records(_Refuses):
        def do_POST(self) -> None:
            paths.append(self.path)
            super().do_POST()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Records)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = OpenAITarget(f"http://127.0.0.1:{server.server_address[1]}{suffix}", timeout_s=5)
    try:
        outcome = target.send(REQUEST)
    finally:
        target.close()
        server.shutdown()
        server.server_close()
    assert paths == ["/v1/images/generations"]
    assert outcome.status == "failed" and (outcome.error or "").startswith("HTTP 400")


class _DripsOnGet(_Hostile):
    def do_GET(self) -> None:
        self.do_POST()


def test_a_gradio_endpoint_that_drips_its_api_description_fails_the_point_in_bounded_time(tmp_path):
    """gradio_client reads the app's API when it is made; an endpoint answering a byte at a time held the load
    point for good. Now making the client is bounded by the request timeout, and the point is ``failed``."""
    from bench.scenario.serve import ServeSpec
    from bench.serve.runner import ServePlan, run_serve
    from tests.serve.conftest import serve_spec

    handler = type("Handler", (_DripsOnGet,), {"mode": "drip", "stop": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    serve = ServeSpec(
        server="url", api="gradio", target_url=f"http://127.0.0.1:{server.server_address[1]}", rates=[1.0],
        max_requests=2, duration_s=5, request_timeout_s=2,
    )  # fmt: skip
    started = time.monotonic()
    try:
        outcome = run_serve([ServePlan(serve_spec(), serve)], tmp_path / "g.serve.jsonl")
    finally:
        handler.stop.set()
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < DRIP_S / 4  # not held until the server gives up
    (point,) = outcome.points
    assert point.status == "failed" and point.reason is not None and "not read within 2 s" in point.reason


class _Silent(QuietHandler):
    """Accepts, reads the request and never answers: the client waits for the reply's headers."""

    stop = threading.Event()
    waiting = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.waiting.set()
        self.stop.wait(DRIP_S)


@pytest.fixture
def silent() -> Iterator[tuple[str, type[_Silent]]]:
    handler = type("Handler", (_Silent,), {"stop": threading.Event(), "waiting": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        handler.stop.set()
        server.shutdown()
        server.server_close()


def test_a_stop_ends_a_wait_for_reply_headers_that_never_come(silent):
    """Reproduced: the stop flag was looked at only while the body was read, so a request whose headers never
    came held its load point (and a SIGTERM) until the request timeout."""
    url, handler = silent
    target = OpenAITarget(url, timeout_s=DRIP_S)
    try:
        outcome = target.send(REQUEST, handler.waiting.is_set)  # stop once the server holds the request
    finally:
        target.close()
    assert handler.waiting.is_set()
    assert outcome.status == "failed" and outcome.error == "stopped before the reply came"
    assert outcome.latency_s < DRIP_S / 4


def test_reply_headers_that_never_come_are_a_timeout_at_the_deadline(silent):
    url, _ = silent
    target = OpenAITarget(url, timeout_s=1.0)
    try:
        outcome = target.send(REQUEST)
    finally:
        target.close()
    # the request's deadline or httpx's own read timeout (the same second) ends it, whichever a busy machine
    # schedules first: both are a timeout within the bound
    assert outcome.status == "timeout" and "timed out" in (outcome.error or "")
    assert outcome.latency_s < DRIP_S / 4


NESTED = b"[" * 100_000
WRONG_SHAPES = {
    "nested": (NESTED, "unreadable reply: RecursionError"),
    "nested-object": (b'{"a":' * 100_000, "unreadable reply: RecursionError"),
    "a list": (b"[1, 2]", "unreadable reply: a JSON list, not an object"),
    "a string": (b'"ok"', "unreadable reply: a JSON str, not an object"),
    "data not a list": (b'{"data": "x"}', "reply has no images"),
    "timing of another shape": (b'{"data": [{}], "kbench": [1]}', "unreadable reply: kbench: Input should be"),
    "timing not finite": (
        b'{"data": [{}], "kbench": {"started_s": NaN, "finished_s": 1, "batch": 1}}',
        "unreadable reply: kbench.started_s: Input should be a finite number",
    ),
    "a huge batch": (
        b'{"data": [{}], "kbench": {"started_s": 0, "finished_s": 1, "batch": 1' + b"0" * 400 + b"}}",
        "unreadable reply: kbench.batch: Input should be less than or equal to 1000000",
    ),
    "not UTF-8": (b'{"data": [{"b64_json": "\xff\xfe"}]}', "unreadable reply: UnicodeDecodeError"),
}


class _Answers(QuietHandler):
    """Answers every POST and GET with one fixed body (HTTP 200)."""

    body = b"{}"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._reply(200, self.body)

    def do_GET(self) -> None:
        self._reply(200, self.body)


def _answering(body: bytes) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Answers,), {"body": body}))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_a_reply_nested_too_deep_or_of_another_shape_is_a_failed_request(shape):
    body, expected = WRONG_SHAPES[shape]
    server = _answering(body)
    target = OpenAITarget(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=10)
    try:
        outcome = target.send(REQUEST)
        device = target.device(0.0, 1.0)
    finally:
        target.close()
        server.shutdown()
        server.server_close()
    assert outcome.status == "failed" and expected in (outcome.error or ""), outcome.error
    assert device is None  # the device window of a non-kbench endpoint: none, whatever it answered


def test_an_endpoint_answering_nested_json_fails_its_point_and_keeps_the_record(tmp_path, capsys):
    """Reproduced: 100000 levels of ``[`` from the endpoint (its device window read with a recursive parser)
    ended the command with exit 70 and lost the measured point. Now each request is failed with its reason, the
    point is recorded as failed, and the command exits 3 with no traceback."""
    from bench.cli import main
    from bench.results.serving import read_serve_results

    server = _answering(NESTED)
    scenario = tmp_path / "url.yaml"
    scenario.write_text(
        "name: url\nmodels: [kandinsky-2.2]\nweights: tiny\ndevice: cpu\ndtypes: [fp32]\nresolutions: [64x64]\n"
        "steps: [1]\nprior_steps: 2\nmode: serve\nserve:\n  server: url\n  api: openai\n"
        f"  target_url: http://127.0.0.1:{server.server_address[1]}\n  arrivals: constant\n  rates: [5]\n"
        "  max_requests: 3\n  duration_s: 5\n  request_timeout_s: 5\n  warmup: 1\n",
        encoding="utf-8",
    )
    out = tmp_path / "r.serve.jsonl"
    try:
        code = main(["run", str(scenario), "-o", str(out), "--no-report"])
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err and "internal error" not in err
    (point,) = read_serve_results(out)
    assert point.status == "failed" and point.sent == point.failed == 3
    (error,) = point.request_errors
    assert error.startswith("unreadable reply: RecursionError") and point.request_errors[error] == 3

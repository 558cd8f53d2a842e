"""Real clients of the two endpoint kinds: one blocking, time-bounded request each, timed end to end.

``gradio_client.Client`` for the Gradio app (its queue protocol, as a browser or a script would call it) and
``httpx`` for the OpenAI-style endpoint (on :mod:`bench.serve.bounded_http`, so a request is bounded as a whole
and given up on a stop while it waits for anything). Both clients are shared by the load generator's threads. A
request that exceeds the timeout is given up (the Gradio job cancelled) and counted as timed out. Whatever an
endpoint answers (an error, a body too large, JSON nested past any depth or of another shape) is a failed
request with its reason, never an error of the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import ValidationError

from bench.results.serving import ServeDevice
from bench.serve.engine import GenRequest, Served

if TYPE_CHECKING:
    import httpx

RequestStatus = Literal["ok", "failed", "timeout"]
POLL_S = 0.2  # how often a waiting Gradio request checks the stop flag
MAX_CONNECTIONS = 512


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it; ``sent_s``/``done_s`` on the wall clock, like the server's timing."""

    sent_s: float
    done_s: float
    status: RequestStatus
    served: Served | None = None
    error: str | None = None

    @property
    def latency_s(self) -> float:
        return self.done_s - self.sent_s


class Target(Protocol):
    """An endpoint the load generator drives."""

    url: str

    def send(self, request: GenRequest, should_stop: Callable[[], bool] | None = None) -> Outcome: ...

    def device(
        self, start_s: float, end_s: float, should_stop: Callable[[], bool] | None = None
    ) -> ServeDevice | None: ...

    def close(self) -> None: ...


MAX_REPLY_BYTES = 64 * 1024 * 1024  # a reply larger than this is refused, not read on (a 1024x1024 PNG: ~2 MB)
MAX_DEVICE_BYTES = 1024 * 1024  # a device window is a few hundred bytes of JSON
DEVICE_TIMEOUT_S = 5.0


def _device(
    client: httpx.Client, url: str, start_s: float, end_s: float, should_stop: Callable[[], bool] | None
) -> ServeDevice | None:
    """The server's samplers over a window, from a kbench server; None from any other endpoint, whatever it
    answers (an error, a reply too large, too slow, too deeply nested or of another shape) or when stopped."""
    import httpx

    from bench.serve.bounded_http import bounded_request, read_capped
    from bench.serve.host import DEVICE_PATH

    with bounded_request(DEVICE_TIMEOUT_S, should_stop):
        try:
            with client.stream("GET", url + DEVICE_PATH, params={"start": start_s, "end": end_s}) as reply:
                body = read_capped(reply, MAX_DEVICE_BYTES) if reply.status_code == 200 else None
        except httpx.HTTPError:
            return None
    if body is None:
        return None
    try:
        return ServeDevice.model_validate_json(body)
    except ValueError:  # pydantic's own JSON parser: no recursion limit to hit, a wrong shape is a ValidationError
        return None


def openai_base_url(url: str) -> str:
    """The server's root: a base URL given the openai client's way (``.../v1``, with or without a trailing
    slash) names the same server as its root, and the route (``/v1/images/generations``) is added once."""
    base = url.rstrip("/")
    return base.removesuffix("/v1").rstrip("/") if base.endswith("/v1") else base


def parse_openai_reply(content: bytes) -> tuple[Served | None, str | None]:
    """``(served, None)`` for a reply with images, ``(None, why)`` for any other body: not JSON, nested past any
    sane depth, or JSON of another shape. A hostile reply is a failed request, never an error of the run."""
    try:
        data = json.loads(content)
    except (ValueError, RecursionError) as exc:
        return None, f"unreadable reply: {type(exc).__name__}: {str(exc)[:200]}"
    if not isinstance(data, dict):
        return None, f"unreadable reply: a JSON {type(data).__name__}, not an object"
    if not isinstance(data.get("data"), list) or not data["data"]:
        return None, "reply has no images"
    timing = data.get("kbench")
    if timing is None:
        return None, None
    try:
        return Served.model_validate(timing), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["kbench", *(str(p) for p in first["loc"])])
        return None, f"unreadable reply: {where}: {first['msg']}"[:240]


class OpenAITarget:
    """``POST /v1/images/generations`` through one shared ``httpx.Client`` (:func:`stoppable_client`)."""

    def __init__(self, url: str, timeout_s: float, max_reply_bytes: int = MAX_REPLY_BYTES) -> None:
        from bench.serve.bounded_http import stoppable_client

        self.url, self.timeout_s, self.max_reply_bytes = openai_base_url(url), timeout_s, max_reply_bytes
        self._client = stoppable_client(timeout_s, base_url=self.url, max_connections=MAX_CONNECTIONS)

    def send(self, request: GenRequest, should_stop: Callable[[], bool] | None = None) -> Outcome:
        """One request, bounded as a whole: connect, send, the headers and the entire reply within the timeout
        (httpx's own timeout bounds each read, so a server answering a byte a second would never end), at most
        :data:`MAX_REPLY_BYTES` read, and given up as soon as the load point is stopped, whatever it waits for."""
        import httpx

        from bench.serve.app_openai import ROUTE
        from bench.serve.bounded_http import CUT_REASONS, bounded_request, read_capped

        body = request.model_dump(exclude_none=True, exclude={"width", "height"})
        if request.width and request.height:
            body["size"] = f"{request.width}x{request.height}"
        sent = time.time()
        with bounded_request(self.timeout_s, should_stop) as bound:
            try:
                with self._client.stream("POST", ROUTE, json=body) as reply:
                    content = read_capped(reply, self.max_reply_bytes)
            except httpx.HTTPError as exc:
                if bound.cut is not None:  # the deadline or the stop ended a wait: headers, body or connect
                    status: RequestStatus = "timeout" if bound.cut == "timeout" else "failed"
                    return Outcome(sent, time.time(), status, error=CUT_REASONS[bound.cut])
                if isinstance(exc, httpx.TimeoutException):
                    return Outcome(sent, time.time(), "timeout", error="request timed out")
                return Outcome(sent, time.time(), "failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        done = time.time()
        if content is None:
            return Outcome(sent, done, "failed", error=CUT_REASONS["too-large"])
        if reply.status_code != 200:
            text = content[:200].decode("utf-8", errors="replace")
            return Outcome(sent, done, "failed", error=f"HTTP {reply.status_code}: {text}")
        served, error = parse_openai_reply(content)
        if error is not None:
            return Outcome(sent, done, "failed", error=error)
        return Outcome(sent, done, "ok", served=served)

    def device(self, start_s: float, end_s: float, should_stop: Callable[[], bool] | None = None) -> ServeDevice | None:
        return _device(self._client, self.url, start_s, end_s, should_stop)

    def close(self) -> None:
        self._client.close()


class GradioTarget:
    """The guide app's ``/predict`` through one shared ``gradio_client.Client`` (images fetched to ``files``)."""

    def __init__(self, url: str, timeout_s: float, files: Path, workers: int, *, same_clock: bool = True) -> None:
        from gradio_client import Client

        from bench.serve.bounded_http import stoppable_client

        self.url, self.timeout_s, self.same_clock = url, timeout_s, same_clock
        self._client = Client(
            url,
            verbose=False,
            analytics_enabled=False,
            download_files=str(files),
            max_workers=max(1, min(workers, MAX_CONNECTIONS)),
            httpx_kwargs={"trust_env": False, "timeout": timeout_s},
        )
        self._http = stoppable_client(DEVICE_TIMEOUT_S, max_connections=4)  # the kbench server's device window

    def send(self, request: GenRequest, should_stop: Callable[[], bool] | None = None) -> Outcome:
        from bench.serve.app_gradio import API_NAME, served_from

        args = (
            request.prompt,
            request.negative_prompt or "",
            request.steps,
            request.guidance_scale,
            request.seed,
            request.width,
            request.height,
        )
        sent = time.time()
        deadline = time.monotonic() + self.timeout_s
        try:
            job = self._client.submit(*args, api_name=f"/{API_NAME}")
        except Exception as exc:  # the client raises many kinds (httpx, its own); each is a failed request
            return Outcome(sent, time.time(), "failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        while True:
            try:
                output = job.result(timeout=max(0.01, min(POLL_S, deadline - time.monotonic())))
                break
            except TimeoutError:
                if should_stop is not None and should_stop():
                    job.cancel()
                    return Outcome(sent, time.time(), "failed", error="stopped before the reply came")
                if time.monotonic() >= deadline:
                    job.cancel()
                    return Outcome(sent, time.time(), "timeout", error="request timed out")
            except Exception as exc:
                return Outcome(sent, time.time(), "failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        done = time.time()
        served = served_from(output)
        if served is not None and served.arrived_s is None and self.same_clock:
            served = served.model_copy(update={"arrived_s": sent})  # same machine clock: the send is the arrival
        return Outcome(sent, done, "ok", served=served)

    def device(self, start_s: float, end_s: float, should_stop: Callable[[], bool] | None = None) -> ServeDevice | None:
        return _device(self._http, self.url, start_s, end_s, should_stop)

    def close(self) -> None:
        self._http.close()
        self._client.close()


__all__ = [
    "GradioTarget",
    "OpenAITarget",
    "Outcome",
    "RequestStatus",
    "Target",
    "parse_openai_reply",
]

"""Real clients of the two endpoint kinds: one blocking, time-bounded request each, timed end to end.

``gradio_client.Client`` for the Gradio app (its queue protocol, as a browser or a script would call it) and
``httpx`` for the OpenAI-style endpoint. Both clients are shared by the load generator's threads. A request
that exceeds the timeout is given up (the Gradio job cancelled) and counted as timed out.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from bench.serve.engine import GenRequest, Served
from bench.serve.schema import ServeDevice

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

    def device(self, start_s: float, end_s: float) -> ServeDevice | None: ...

    def close(self) -> None: ...


def _device(url: str, start_s: float, end_s: float) -> ServeDevice | None:
    """The server's samplers over a window, from a kbench server; None from any other endpoint."""
    import httpx

    from bench.serve.host import DEVICE_PATH

    try:
        reply = httpx.get(url + DEVICE_PATH, params={"start": start_s, "end": end_s}, timeout=5.0, trust_env=False)
        return ServeDevice.model_validate(reply.json()) if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


MAX_REPLY_BYTES = 64 * 1024 * 1024  # a reply larger than this is refused, not read on (a 1024x1024 PNG: ~2 MB)
_CUT_REASONS = {
    "timeout": "request timed out (connect, send and the whole reply)",
    "too-large": "reply larger than the byte cap: not read further",
    "stopped": "stopped before the reply came",
}


def _read_bounded(
    reply: httpx.Response, deadline: float, should_stop: Callable[[], bool] | None, max_bytes: int
) -> tuple[bytes, str | None]:
    """The reply body, read until done, the deadline, the byte cap or a stop; and why it was cut.

    httpx bounds each read, not the whole body: a watcher closes the reply when the deadline passes or the
    load point stops, which ends a read blocked on a silent server at once.
    """
    cut: list[str] = []
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(POLL_S):
            if time.monotonic() > deadline or (should_stop is not None and should_stop()):
                cut.append("timeout" if time.monotonic() > deadline else "stopped")
                with contextlib.suppress(Exception):  # closing from this thread ends the blocked read
                    reply.close()
                return

    watcher = threading.Thread(target=watch, name="kbench-reply-watch", daemon=True)
    watcher.start()
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in reply.iter_raw(chunk_size=64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                return b"", "too-large"
            chunks.append(chunk)
            if cut:
                break
    except Exception:
        if not cut:
            raise
    finally:
        finished.set()
    return (b"", cut[0]) if cut else (b"".join(chunks), None)


def openai_base_url(url: str) -> str:
    """The server's root: a base URL given the openai client's way (``.../v1``, with or without a trailing
    slash) names the same server as its root, and the route (``/v1/images/generations``) is added once."""
    base = url.rstrip("/")
    return base.removesuffix("/v1").rstrip("/") if base.endswith("/v1") else base


class OpenAITarget:
    """``POST /v1/images/generations`` through one shared ``httpx.Client``."""

    def __init__(self, url: str, timeout_s: float, max_reply_bytes: int = MAX_REPLY_BYTES) -> None:
        import httpx

        self.url, self.timeout_s, self.max_reply_bytes = openai_base_url(url), timeout_s, max_reply_bytes
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=64)
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s, limits=limits, trust_env=False)

    def send(self, request: GenRequest, should_stop: Callable[[], bool] | None = None) -> Outcome:
        """One request, bounded as a whole: connect, send and the entire reply within the timeout (httpx's own
        timeout bounds each read, so a server answering a byte a second would never end), at most
        :data:`MAX_REPLY_BYTES` read, and given up as soon as the load point is stopped."""
        import httpx

        from bench.serve.app_openai import ROUTE

        body = request.model_dump(exclude_none=True, exclude={"width", "height"})
        if request.width and request.height:
            body["size"] = f"{request.width}x{request.height}"
        sent = time.time()
        deadline = time.monotonic() + self.timeout_s
        try:  # the headers within the timeout (httpx), then the whole body within what is left of it
            with self._client.stream("POST", ROUTE, json=body) as reply:
                content, cut = _read_bounded(reply, deadline, should_stop, self.max_reply_bytes)
        except httpx.TimeoutException:
            return Outcome(sent, time.time(), "timeout", error="request timed out")
        except httpx.HTTPError as exc:
            return Outcome(sent, time.time(), "failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        done = time.time()
        if cut is not None:
            return Outcome(sent, done, "timeout" if cut == "timeout" else "failed", error=_CUT_REASONS[cut])
        if reply.status_code != 200:
            text = content[:200].decode("utf-8", errors="replace")
            return Outcome(sent, done, "failed", error=f"HTTP {reply.status_code}: {text}")
        try:
            data = json.loads(content)
            served = Served.model_validate(data["kbench"]) if isinstance(data.get("kbench"), dict) else None
            if not data.get("data"):
                return Outcome(sent, done, "failed", error="reply has no images")
        except (ValueError, AttributeError, RecursionError) as exc:
            return Outcome(sent, done, "failed", error=f"unreadable reply: {str(exc)[:200]}")
        return Outcome(sent, done, "ok", served=served)

    def device(self, start_s: float, end_s: float) -> ServeDevice | None:
        return _device(self.url, start_s, end_s)

    def close(self) -> None:
        self._client.close()


class GradioTarget:
    """The guide app's ``/predict`` through one shared ``gradio_client.Client`` (images fetched to ``files``)."""

    def __init__(self, url: str, timeout_s: float, files: Path, workers: int, *, same_clock: bool = True) -> None:
        from gradio_client import Client

        self.url, self.timeout_s, self.same_clock = url, timeout_s, same_clock
        self._client = Client(
            url,
            verbose=False,
            analytics_enabled=False,
            download_files=str(files),
            max_workers=max(1, min(workers, MAX_CONNECTIONS)),
            httpx_kwargs={"trust_env": False, "timeout": timeout_s},
        )

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

    def device(self, start_s: float, end_s: float) -> ServeDevice | None:
        return _device(self.url, start_s, end_s)

    def close(self) -> None:
        self._client.close()


__all__ = ["GradioTarget", "OpenAITarget", "Outcome", "RequestStatus", "Target"]

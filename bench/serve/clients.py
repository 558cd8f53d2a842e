"""Real clients of the two endpoint kinds: one blocking, time-bounded request each, timed end to end.

``gradio_client.Client`` for the Gradio app (its queue protocol, as a browser or a script would call it) and
``httpx`` for the OpenAI-style endpoint. Both clients are shared by the load generator's threads. A request
that exceeds the timeout is given up (the Gradio job cancelled) and counted as timed out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from bench.serve.engine import GenRequest, Served
from bench.serve.schema import ServeDevice

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


class OpenAITarget:
    """``POST /v1/images/generations`` through one shared ``httpx.Client``."""

    def __init__(self, url: str, timeout_s: float) -> None:
        import httpx

        self.url = url
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=64)
        self._client = httpx.Client(base_url=url, timeout=timeout_s, limits=limits, trust_env=False)

    def send(self, request: GenRequest, should_stop: Callable[[], bool] | None = None) -> Outcome:
        import httpx

        from bench.serve.app_openai import ROUTE

        body = request.model_dump(exclude_none=True, exclude={"width", "height"})
        if request.width and request.height:
            body["size"] = f"{request.width}x{request.height}"
        sent = time.time()
        try:
            reply = self._client.post(ROUTE, json=body)
        except httpx.TimeoutException:
            return Outcome(sent, time.time(), "timeout", error="request timed out")
        except httpx.HTTPError as exc:
            return Outcome(sent, time.time(), "failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
        done = time.time()
        if reply.status_code != 200:
            return Outcome(sent, done, "failed", error=f"HTTP {reply.status_code}: {reply.text[:200]}")
        try:
            data = reply.json()
            served = Served.model_validate(data["kbench"]) if isinstance(data.get("kbench"), dict) else None
            if not data.get("data"):
                return Outcome(sent, done, "failed", error="reply has no images")
        except (ValueError, AttributeError) as exc:
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

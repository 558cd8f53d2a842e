"""Real clients of the two endpoint kinds: one blocking, time-bounded request each, timed end to end.

``gradio_client.Client`` for the Gradio app (its queue protocol, as a browser or a script would call it) and
``httpx`` for the OpenAI-style endpoint (on :mod:`bench.serve.bounded_http`, so a request is bounded as a whole
and given up on a stop while it waits for anything). Both clients are shared by the load generator's threads. A
request that exceeds the timeout is given up (the Gradio job cancelled) and counted as timed out. Whatever an
endpoint answers (an error, a body too large, JSON nested past any depth or of another shape) is a failed
request with its reason, never an error of the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from bench.results.serving import ServeDevice
from bench.serve.engine import GenRequest, Served
from bench.serve.openai_wire import Auth, openai_base_url, parse_openai_reply, request_body

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
ERROR_BYTES = 16 * 1024  # of an error reply, read for its reason (redacted, then clipped)
MAX_DEVICE_BYTES = 1024 * 1024  # a device window is a few hundred bytes of JSON
DEVICE_TIMEOUT_S = 5.0


def _device(
    client: httpx.Client,
    url: str,
    start_s: float,
    end_s: float,
    should_stop: Callable[[], bool] | None,
    headers: Mapping[str, str] | None = None,
) -> ServeDevice | None:
    """The server's samplers over a window, from a kbench server; None from any other endpoint, whatever it
    answers (an error, a reply too large, too slow, too deeply nested or of another shape) or when stopped."""
    import httpx

    from bench.serve.bounded_http import bounded_request, read_capped
    from bench.serve.host import DEVICE_PATH

    with bounded_request(DEVICE_TIMEOUT_S, should_stop):
        try:
            window = {"start": start_s, "end": end_s}
            with client.stream("GET", url + DEVICE_PATH, params=window, headers=headers) as reply:
                body = read_capped(reply, MAX_DEVICE_BYTES) if reply.status_code == 200 else None
        except httpx.HTTPError:
            return None
    if body is None:
        return None
    try:
        return ServeDevice.model_validate_json(body)
    except ValueError:  # pydantic's own JSON parser: no recursion limit to hit, a wrong shape is a ValidationError
        return None


class OpenAITarget:
    """``POST /v1/images/generations`` through one shared ``httpx.Client`` (:func:`stoppable_client`).

    ``auth``: the headers of every request (the API key among them) and the secrets kept out of error texts;
    ``extension``: kbench's extension fields the body carries; ``extra``: the endpoint's own fields.
    """

    def __init__(
        self,
        url: str,
        timeout_s: float,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        *,
        auth: Auth | None = None,
        extension: Sequence[str] = (),
        extra: Mapping[str, object] | None = None,
    ) -> None:
        import httpx

        from bench.serve.bounded_http import stoppable_client

        self.url, self.timeout_s, self.max_reply_bytes = openai_base_url(url), timeout_s, max_reply_bytes
        self.auth, self.extension, self.extra = auth or Auth(), tuple(extension), dict(extra or {})
        self._client = stoppable_client(timeout_s, base_url=self.url, max_connections=MAX_CONNECTIONS)
        self._origin = _origin(httpx.URL(self.url))

    def send(self, request: GenRequest, should_stop: Callable[[], bool] | None = None) -> Outcome:
        """One request, bounded as a whole: connect, send, the headers and the entire reply, then any image the
        reply gives as a ``url``, all within the timeout (httpx's own timeout bounds each read, so a server
        answering a byte a second would never end), each body at most :data:`MAX_REPLY_BYTES`, and given up as
        soon as the load point is stopped, whatever it waits for. An image fetched by its URL is part of the
        request's latency, as it is of what a client waits for."""
        import httpx

        from bench.serve.bounded_http import CUT_REASONS, bounded_request

        body = request_body(request, self.extension, self.extra)
        sent = time.time()
        with bounded_request(self.timeout_s, should_stop) as bound:
            try:
                served, error = self._exchange(body)
            except httpx.HTTPError as exc:
                if bound.cut is not None:  # the deadline or the stop ended a wait: headers, body or connect
                    status: RequestStatus = "timeout" if bound.cut == "timeout" else "failed"
                    return Outcome(sent, time.time(), status, error=CUT_REASONS[bound.cut])
                if isinstance(exc, httpx.TimeoutException):
                    return Outcome(sent, time.time(), "timeout", error="request timed out")
                why = self.auth.redact(f"{type(exc).__name__}: {exc}")
                return Outcome(sent, time.time(), "failed", error=why)
        done = time.time()
        if error is not None:
            return Outcome(sent, done, "failed", error=self.auth.redact(error))
        return Outcome(sent, done, "ok", served=served)

    def _exchange(self, body: dict[str, object]) -> tuple[Served | None, str | None]:
        """Post ``body``, read the reply and fetch the images it gives by URL: ``(served, None)`` or ``(None,
        why)``. Runs inside the request's bound; a cut wait raises ``httpx.HTTPError``."""
        from bench.serve.app_openai import ROUTE
        from bench.serve.bounded_http import CUT_REASONS, read_capped

        with self._client.stream("POST", ROUTE, json=body, headers=self.auth.headers) as reply:
            content = read_capped(reply, self.max_reply_bytes)
        if content is None:
            return None, CUT_REASONS["too-large"]
        if reply.status_code != 200:
            return None, f"HTTP {reply.status_code}: {content[:ERROR_BYTES].decode('utf-8', errors='replace')}"
        parsed = parse_openai_reply(content)
        if parsed.error is not None:
            return None, parsed.error
        for url in parsed.urls:
            if why := self._fetch_image(url):
                return None, why
        return parsed.served, None

    def _fetch_image(self, url: str) -> str | None:
        """GET one image a reply gave by URL (None when it came whole). The endpoint's headers, its key among
        them, go only to its own origin: an image host elsewhere (a signed storage URL) gets none."""
        import httpx

        from bench.serve.bounded_http import read_capped

        try:
            target = httpx.URL(self.url + "/").join(url)
        except (httpx.InvalidURL, ValueError):
            return "reply gives an image url that is not a URL"
        shown = str(target.copy_with(query=None, fragment=None))[:200]  # a signed URL's query is a credential
        if target.scheme not in ("http", "https"):
            return f"reply gives an image url that is not http(s): {target.scheme}:"
        headers = self.auth.headers if _origin(target) == self._origin else None
        with self._client.stream("GET", target, headers=headers) as reply:
            image = read_capped(reply, self.max_reply_bytes)
        if image is None:
            return f"image at {shown}: larger than the byte cap, not read further"
        if reply.status_code != 200:
            return f"image at {shown}: HTTP {reply.status_code}"
        if not image:
            return f"image at {shown}: an empty body"
        return None

    def device(self, start_s: float, end_s: float, should_stop: Callable[[], bool] | None = None) -> ServeDevice | None:
        return _device(self._client, self.url, start_s, end_s, should_stop, self.auth.headers)

    def close(self) -> None:
        self._client.close()


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (the default one filled in): what must match for the endpoint's headers to go."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


class GradioTarget:
    """The guide app's ``/predict`` through one shared ``gradio_client.Client`` (images fetched to ``files``)."""

    def __init__(
        self,
        url: str,
        timeout_s: float,
        files: Path,
        workers: int,
        *,
        same_clock: bool = True,
        auth: Auth | None = None,
    ) -> None:
        from gradio_client import Client

        from bench.serve.bounded_http import stoppable_client

        self.url, self.timeout_s, self.same_clock, self.auth = url, timeout_s, same_clock, auth or Auth()
        self._client = Client(
            url,
            verbose=False,
            analytics_enabled=False,
            download_files=str(files),
            max_workers=max(1, min(workers, MAX_CONNECTIONS)),
            headers=self.auth.headers or None,
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
            return Outcome(sent, time.time(), "failed", error=self.auth.redact(f"{type(exc).__name__}: {exc}"))
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
                why = self.auth.redact(f"{type(exc).__name__}: {exc}")
                return Outcome(sent, time.time(), "failed", error=why)
        done = time.time()
        served = served_from(output)
        if served is not None and served.arrived_s is None and self.same_clock:
            served = served.model_copy(update={"arrived_s": sent})  # same machine clock: the send is the arrival
        return Outcome(sent, done, "ok", served=served)

    def device(self, start_s: float, end_s: float, should_stop: Callable[[], bool] | None = None) -> ServeDevice | None:
        return _device(self._http, self.url, start_s, end_s, should_stop, self.auth.headers)

    def close(self) -> None:
        self._http.close()
        self._client.close()


__all__ = [
    "GradioTarget",
    "OpenAITarget",
    "Outcome",
    "RequestStatus",
    "Target",
    "openai_base_url",
    "parse_openai_reply",
]

"""The OpenAI-style endpoint: ``POST /v1/images/generations`` on FastAPI/uvicorn, with dynamic batching.

``python -m bench.serve.app_openai CONFIG.json PORT``. A request is the OpenAI images body (``prompt``,
``n``, ``size`` or ``auto``, ``response_format: b64_json``) plus the guide app's other inputs as extension fields
(``negative_prompt``, ``steps``, ``guidance_scale``, ``seed``). OpenAI's other standard parameters (``model``,
``quality``, ``style``, ``user``, ...) are accepted and ignored, and the reply names them in a header; anything
else is refused. Errors come in OpenAI's envelope, so the official client shows their message. One worker thread
takes requests in arrival order, up to ``max_batch`` at a time, waiting up to ``batch_window_s`` for a fuller
batch, and calls the pipeline; the response carries the images and, under ``kbench``, the server-side timing
(:class:`Served`).
"""

from __future__ import annotations

import asyncio
import base64
import queue
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.serve.engine import Engine, GenRequest, Served, png_bytes
from bench.serve.host import add_host_routes, exit_with, serve_forever, start_engine
from bench.spec import parse_resolution

ROUTE = "/v1/images/generations"
MAX_WAITING = 10_000  # requests queued at the server beyond this are refused (429), not held without bound
MAX_N = 10  # images per request, as OpenAI's images API allows
IGNORED_HEADER = "X-Kbench-Ignored-Parameters"
# OpenAI's standard parameters this server accepts and does not use: a client that always sends them still works
IGNORED = ("model", "quality", "style", "user", "background", "moderation", "output_compression", "output_format")
_Loose = Annotated[str, Field(max_length=256)] | int | float | bool | None  # accepted as sent, never used


class ImagesRequest(BaseModel):
    """OpenAI's images body, kbench's extension fields, and OpenAI's parameters this server ignores. Anything
    else is refused (a misspelt field would otherwise be silently dropped)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    prompt: str = Field(min_length=1, max_length=4096)
    n: int | None = Field(default=None, ge=1, le=MAX_N)
    size: str | None = Field(default=None, max_length=32)
    response_format: Literal["b64_json", "url"] | None = None
    stream: bool | None = None
    partial_images: int | None = Field(default=None, ge=0, le=3)
    model: _Loose = None
    quality: _Loose = None
    style: _Loose = None
    user: _Loose = None
    background: _Loose = None
    moderation: _Loose = None
    output_compression: _Loose = None
    output_format: _Loose = None
    negative_prompt: str | None = Field(default=None, max_length=4096)
    steps: int | None = Field(default=None, ge=1, le=1000)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=50.0)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)

    def ignored(self) -> list[str]:
        """The standard parameters given that this server does not act on."""
        given = [name for name in IGNORED if getattr(self, name) is not None]
        given += ["stream"] if self.stream is False else []
        return given + (["partial_images"] if self.partial_images is not None else [])


class ApiError(Exception):
    """An error answered in OpenAI's envelope: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, object]:
    """OpenAI's error envelope, so its client shows the message (not just the status code)."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    kind = "rate_limit_error" if status == 429 else kind
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _validation_error(errors: list[dict[str, Any]]) -> ApiError:
    """The first problem of a body pydantic refused, worded and coded as OpenAI's API words them."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid body", "type": ""}
    path = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = path[0] if path else None
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        return ApiError(400, f"Unrecognized request argument supplied: {param}", param, "unknown_parameter")
    if kind == "missing":
        return ApiError(400, f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
    where = ".".join(path) or "body"
    return ApiError(400, f"Invalid value for '{where}': {first.get('msg', 'invalid')}"[:400], param, "invalid_value")


@dataclass
class _Pending:
    request: GenRequest
    arrived_s: float
    future: Future[tuple[list[Any], Served]] = field(default_factory=Future)


class Batcher:
    """Forms batches in arrival order and serves them one call at a time on a daemon thread."""

    def __init__(self, engine: Engine, max_batch: int, window_s: float) -> None:
        self.engine, self.max_batch, self.window_s = engine, max_batch, window_s
        self._queue: queue.Queue[_Pending] = queue.Queue(maxsize=MAX_WAITING)
        threading.Thread(target=self._loop, name="kbench-batcher", daemon=True).start()

    def submit(self, request: GenRequest) -> Future[tuple[list[Any], Served]]:
        pending = _Pending(request, time.time())
        self._queue.put_nowait(pending)  # queue.Full: the caller answers 429
        return pending.future

    def _take(self) -> list[_Pending]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            try:
                images, served = self.engine.generate([p.request for p in batch])
            except Exception as exc:  # a failed call fails its requests, never the server
                for p in batch:
                    p.future.set_exception(exc)
                continue
            for p, own in zip(batch, images, strict=True):
                p.future.set_result((own, served.model_copy(update={"arrived_s": p.arrived_s})))


def _gen_request(body: ImagesRequest, ipp: int) -> GenRequest:
    """The engine's request for a body: ``size`` ``auto`` (or none) is the server's own size, ``n`` the images of
    the prompt (none: the run's ``images_per_prompt``)."""
    if body.stream:
        raise ApiError(400, "Streaming is not supported by this server; leave stream out or false.", "stream")
    if body.response_format == "url":
        raise ApiError(400, "This server answers response_format b64_json only.", "response_format", "invalid_value")
    width = height = None
    if body.size and body.size != "auto":
        try:
            width, height = parse_resolution(body.size)
        except ValueError as exc:
            raise ApiError(400, f"Invalid value for 'size': {exc}", "size", "invalid_value") from None
    return GenRequest(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        steps=body.steps,
        guidance_scale=body.guidance_scale,
        seed=body.seed,
        width=width,
        height=height,
        images=body.n if body.n not in (None, ipp) else None,
    )


def create_app(engine: Engine, max_batch: int, window_s: float) -> Any:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    app = FastAPI(title="kbench OpenAI-style images endpoint")
    add_host_routes(app, engine)
    batcher = Batcher(engine, max_batch, window_s)
    ipp = engine.spec.images_per_prompt

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.message, exc.param, exc.code), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = _validation_error(list(exc.errors()))
        return JSONResponse(error_body(err.status, err.message, err.param, err.code), status_code=err.status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:  # an unknown route, a wrong method
        body = error_body(exc.status_code, str(exc.detail), None, "not_found" if exc.status_code == 404 else None)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.post(ROUTE)
    async def generations(body: ImagesRequest) -> JSONResponse:
        request = _gen_request(body, ipp)
        if problem := engine.check(request):
            raise ApiError(400, problem, "size", "invalid_value")
        try:
            future = batcher.submit(request)
        except queue.Full:
            raise ApiError(429, "The server's queue is full; try again later.", None, "rate_limit_exceeded") from None
        try:
            images, served = await asyncio.wrap_future(future)
        except Exception as exc:
            raise ApiError(500, f"{type(exc).__name__}: {str(exc)[:300]}") from None
        data = [{"b64_json": base64.b64encode(png_bytes(image)).decode("ascii")} for image in images]
        reply = {"created": int(time.time()), "data": data, "kbench": served.model_dump(mode="json")}
        ignored = body.ignored()
        return JSONResponse(reply, headers={IGNORED_HEADER: ", ".join(ignored)} if ignored else None)

    return app


def main(argv: list[str]) -> int:
    config, engine, sock = start_engine(argv)
    window = config.batch_window_s if config.max_batch > 1 else 0.0
    return serve_forever(create_app(engine, config.max_batch, window), sock)


if __name__ == "__main__":
    exit_with(main(sys.argv[1:]))

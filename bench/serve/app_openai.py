"""The OpenAI-style endpoint: ``POST /v1/images/generations`` on FastAPI/uvicorn, with dynamic batching.

``python -m bench.serve.app_openai CONFIG.json PORT``. A request is the OpenAI images body (``prompt``,
``n``, ``size``, ``response_format``) plus the guide app's other inputs as extension fields
(``negative_prompt``, ``steps``, ``guidance_scale``, ``seed``). One worker thread takes requests in arrival
order, up to ``max_batch`` at a time, waiting up to ``batch_window_s`` for a fuller batch, and calls the
pipeline; the response carries the images and, under ``kbench``, the server-side timing (:class:`Served`).
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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.serve.engine import Engine, GenRequest, Served, png_bytes
from bench.serve.host import add_host_routes, exit_with, serve_forever, start_engine
from bench.spec import parse_resolution

ROUTE = "/v1/images/generations"
MAX_WAITING = 10_000  # requests queued at the server beyond this are refused (429), not held without bound


class ImagesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    prompt: str = Field(min_length=1, max_length=4096)
    model: str | None = None
    n: int | None = Field(default=None, ge=1, le=64)
    size: str | None = Field(default=None, max_length=32)
    response_format: Literal["b64_json"] = "b64_json"
    negative_prompt: str | None = Field(default=None, max_length=4096)
    steps: int | None = Field(default=None, ge=1, le=1000)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=50.0)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)


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


def create_app(engine: Engine, max_batch: int, window_s: float) -> Any:
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="kbench OpenAI-style images endpoint")
    add_host_routes(app, engine)
    batcher = Batcher(engine, max_batch, window_s)
    ipp = engine.spec.images_per_prompt

    @app.post(ROUTE)
    async def generations(body: ImagesRequest) -> dict[str, object]:
        width = height = None
        if body.size:
            try:
                width, height = parse_resolution(body.size)
            except ValueError as exc:
                raise HTTPException(status_code=400, detail=f"size: {exc}") from None
        if body.n not in (None, ipp):
            raise HTTPException(status_code=400, detail=f"n: this server makes {ipp} image(s) per prompt")
        request = GenRequest(
            prompt=body.prompt,
            negative_prompt=body.negative_prompt,
            steps=body.steps,
            guidance_scale=body.guidance_scale,
            seed=body.seed,
            width=width,
            height=height,
        )
        if problem := engine.check(request):
            raise HTTPException(status_code=400, detail=problem)
        try:
            future = batcher.submit(request)
        except queue.Full:
            raise HTTPException(status_code=429, detail="server queue full") from None
        try:
            images, served = await asyncio.wrap_future(future)
        except Exception as exc:
            raise HTTPException(status_code=500, detail=f"{type(exc).__name__}: {str(exc)[:300]}") from None
        data = [{"b64_json": base64.b64encode(png_bytes(image)).decode("ascii")} for image in images]
        return {"created": int(time.time()), "data": data, "kbench": served.model_dump(mode="json")}

    return app


def main(argv: list[str]) -> int:
    config, engine, sock = start_engine(argv)
    window = config.batch_window_s if config.max_batch > 1 else 0.0
    return serve_forever(create_app(engine, config.max_batch, window), sock)


if __name__ == "__main__":
    exit_with(main(sys.argv[1:]))

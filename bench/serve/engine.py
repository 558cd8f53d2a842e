"""The served pipeline, inside a server process: built once, called through :mod:`bench.workloads` per batch.

The server calls the same :func:`~bench.workloads.run_workload` an isolated run measures, with the run's spec
changed only where a request changes it (its prompts, batch size, steps, guidance, size, seed, negative prompt,
images per prompt), so the served call is the benchmarked call. The usual samplers run in this process for its
whole life, on the wall clock (``time.time``), so the driver can ask for any window of it
(:meth:`Engine.device_window`).
"""

from __future__ import annotations

import io
import os
import threading
import time
from itertools import groupby
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bench.results.serving import ServeDevice
from bench.spec import RunSpec

MAX_PROMPT_CHARS = 4096
_REQUEST = ConfigDict(extra="forbid", allow_inf_nan=False)


class ServerConfig(BaseModel):
    """What the driver hands a server process (as a JSON file): the workload and the batching."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    spec: RunSpec  # batch_size is the server's max batch
    max_batch: int = Field(default=1, ge=1, le=64)
    batch_window_s: float = Field(default=0.0, ge=0.0, le=60.0)


class GenRequest(BaseModel):
    """One request's parameters, the guide app's inputs; ``None`` takes the run's value."""

    model_config = _REQUEST
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    steps: int | None = Field(default=None, ge=1, le=1000)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=50.0)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    width: int | None = Field(default=None, ge=64, le=8192)
    height: int | None = Field(default=None, ge=64, le=8192)
    images: int | None = Field(default=None, ge=1, le=64)  # images of this prompt (an OpenAI request's n)


class Served(BaseModel):
    """How the server served one request: the batch call's wall-clock bounds and its size.

    Read from whatever an endpoint answers, so held to what a server can mean: finite times, a batch of at
    least one request (an ``inf`` or a batch of 10**400 would end in the statistics, or overflow them).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    arrived_s: float | None = None  # when the request reached the server (None: the server cannot tell)
    started_s: float
    finished_s: float
    batch: int = Field(ge=1, le=1_000_000)


class Engine:
    """The pipelines of one run, one call at a time, and the samplers of this process."""

    def __init__(self, config: ServerConfig) -> None:
        import torch

        from bench.measure.preflight import build_run_pipelines
        from bench.measure.samplers import DEFAULT_INTERVAL_S, SamplerThread, open_samplers

        spec = self.spec = config.spec
        samplers, self.warnings = open_samplers(spec.device, os.getpid())
        self.sampler = SamplerThread(samplers, interval_s=DEFAULT_INTERVAL_S, clock=time.time)
        self.sampler.start()
        if spec.cpu_threads:
            torch.set_num_threads(spec.cpu_threads)
        self.pipes = build_run_pipelines(spec)
        self._lock = threading.Lock()  # one pipeline call at a time, as one GPU serves

    def check(self, request: GenRequest) -> str | None:
        """Why this request cannot be served (a size the model cannot render), or None."""
        from bench.scenario import check_resolution

        width, height = request.width or self.spec.width, request.height or self.spec.height
        try:
            check_resolution(self.spec.model, width, height)
        except ValueError as exc:
            return str(exc)
        return None

    def _spec_for(self, request: GenRequest, batch: int) -> RunSpec:
        spec = self.spec
        return spec.model_copy(
            update={
                "batch_size": batch,
                "negative_prompt": request.negative_prompt or None,
                "steps": request.steps or spec.steps,
                "guidance_scale": spec.guidance_scale if request.guidance_scale is None else request.guidance_scale,
                "seed": spec.seed if request.seed is None else request.seed,
                "width": request.width or spec.width,
                "height": request.height or spec.height,
                "images_per_prompt": request.images or spec.images_per_prompt,
            }
        )

    def generate(self, requests: list[GenRequest]) -> tuple[list[list[Any]], Served]:
        """Serve a batch: the images of each request (its ``images``, else ``images_per_prompt``) and the call's
        timing.

        Requests that differ in anything but the prompt cannot share one pipeline call; they are served as
        consecutive calls within the batch, in arrival order.
        """
        import torch

        from bench.workloads import StageHooks, run_workload

        def key(r: GenRequest) -> tuple[object, ...]:
            return (r.negative_prompt, r.steps, r.guidance_scale, r.seed, r.width, r.height, r.images)

        images: list[list[Any]] = []
        with self._lock:
            started = time.time()
            for _, group in groupby(requests, key=key):
                members = list(group)
                spec = self._spec_for(members[0], len(members))
                generator = torch.Generator("cpu").manual_seed(spec.seed)
                out = run_workload(self.pipes, spec, generator, StageHooks(), prompts=[r.prompt for r in members])
                ipp = spec.images_per_prompt
                images.extend(out[i * ipp : (i + 1) * ipp] for i in range(len(members)))
            finished = time.time()
        return images, Served(started_s=started, finished_s=finished, batch=len(requests))

    def device_window(self, start_s: float, end_s: float) -> ServeDevice:
        """The samplers' view of a wall-clock window: peaks since start, means and energy over the window."""
        sampler = self.sampler
        t0 = sampler.t0 or 0.0
        lo = max(0.0, start_s - t0)
        hi = max(lo, min(sampler.now_s(), end_s - t0))
        energy, _ = sampler.energy_between(lo, hi)
        allocated = None
        if self.spec.device.startswith("cuda"):
            import torch

            allocated = torch.cuda.max_memory_allocated() / (1024 * 1024)
        return ServeDevice(
            peak_rss_mb=sampler.peak("rss_mb"),
            vram_used_peak_mb=sampler.peak("vram_used_mb"),
            torch_allocated_peak_mb=allocated,
            mean_gpu_util_pct=sampler.mean_between("gpu_util_pct", lo, hi),
            mean_power_w=sampler.mean_between("power_w", lo, hi),
            energy_j=energy,
        )


def png_bytes(image: Any) -> bytes:
    """One PIL image as PNG bytes (the OpenAI shape's ``b64_json``)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def read_config(path: str) -> ServerConfig:
    with open(path, encoding="utf-8") as handle:
        return ServerConfig.model_validate_json(handle.read())


__all__ = ["Engine", "GenRequest", "Served", "ServerConfig", "png_bytes", "read_config"]

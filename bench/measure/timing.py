"""Stage timing inside one pipeline call.

Hooks on the pipeline's components record when each text encoder, prior, denoiser and decoder call
starts and ends; the step-end callback records each denoising step. From those spans a call's wall
time is split into exclusive stages whose sum plus the reported remainder is the wall time:

* ``text_encode``  - text-encoder forward passes (CLIP, M-CLIP, T5, ...)
* ``prior``        - the 2.x prior pipeline call, less the text encoding inside it
* ``image_encode`` - MoVQ/VAE encoding of input images (img2img, inpaint)
* ``denoise``      - first denoiser call to the last step's end (scheduler steps included)
* ``decode``       - MoVQ/VAE decoding of the latents

On CUDA every boundary synchronises the device first, so a span measures finished GPU work.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
DENOISERS = ("unet", "transformer")
AUTOENCODERS = ("movq", "vae")
STAGE_ORDER = ("text_encode", "prior", "image_encode", "denoise", "decode")


class Clock:
    """Monotonic nanosecond clock; on CUDA it waits for queued GPU work before reading."""

    def __init__(self, device: str) -> None:
        self._sync: Callable[[], None] | None = None
        if device.startswith("cuda"):
            import torch

            self._sync = torch.cuda.synchronize

    def now_ns(self) -> int:
        if self._sync is not None:
            self._sync()
        return time.perf_counter_ns()


@dataclass
class Span:
    stage: str
    start_ns: int
    end_ns: int

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass
class CallTiming:
    """Timing of one pipeline call: wall time, exclusive stage seconds and per-step seconds."""

    wall_s: float
    stage_s: dict[str, float]
    step_s: list[float]
    spans: list[Span] = field(default_factory=list)

    @property
    def unaccounted_s(self) -> float:
        return self.wall_s - sum(self.stage_s.values())


class StageRecorder:
    """Installs timing hooks on a set of pipelines and splits each call into stages."""

    def __init__(self, clock: Clock, on_boundary: Callable[[str, str], None] | None = None) -> None:
        self.clock = clock
        self._events: list[tuple[str, str, int]] = []  # (kind, edge, t_ns)
        self._step_ns: list[int] = []
        self._handles: list[Any] = []
        self._on_boundary = on_boundary or (lambda stage, edge: None)

    # --- installation ---------------------------------------------------------------------------
    def install(self, pipes: dict[str, Any]) -> None:
        for pipe in pipes.values():
            components = getattr(pipe, "components", {})
            for name, module in components.items():
                if module is None:
                    continue
                if name in TEXT_ENCODERS:
                    self._hook_forward(module, "text_encode")
                elif name in DENOISERS:
                    self._hook_forward(module, "denoise")
                elif name in AUTOENCODERS:
                    self._wrap_method(module, "decode", "decode")
                    self._wrap_method(module, "encode", "image_encode")

    def _hook_forward(self, module: Any, kind: str) -> None:
        self._handles.append(module.register_forward_pre_hook(lambda *_: self._mark(kind, "start")))
        self._handles.append(module.register_forward_hook(lambda *_: self._mark(kind, "end")))

    def _wrap_method(self, module: Any, method: str, kind: str) -> None:
        original = getattr(module, method, None)
        if original is None:
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._mark(kind, "start")
            try:
                return original(*args, **kwargs)
            finally:
                self._mark(kind, "end")

        object.__setattr__(module, method, timed)

    # --- events ----------------------------------------------------------------------------------
    def _mark(self, kind: str, edge: str) -> None:
        self._events.append((kind, edge, self.clock.now_ns()))
        self._on_boundary(kind, edge)

    def stage_edge(self, stage: str, edge: str) -> None:
        """Mark the start or end of a pipeline-level stage (the 2.x prior call)."""
        self._mark(stage, edge)

    def step_end(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        """The pipeline's ``callback_on_step_end``: timestamps each finished denoising step."""
        self._step_ns.append(self.clock.now_ns())
        return callback_kwargs

    # --- per call ----------------------------------------------------------------------------------
    def begin_call(self) -> int:
        self._events.clear()
        self._step_ns.clear()
        return self.clock.now_ns()

    def end_call(self, start_ns: int) -> CallTiming:
        end_ns = self.clock.now_ns()
        spans = _pair_spans(self._events)
        stage_ns: dict[str, int] = {}

        def total(kind: str, within: Span | None = None) -> int:
            return sum(
                s.end_ns - s.start_ns
                for s in spans
                if s.stage == kind and (within is None or within.start_ns <= s.start_ns <= within.end_ns)
            )

        stage_ns["text_encode"] = total("text_encode")
        prior_spans = [s for s in spans if s.stage == "prior"]
        stage_ns["prior"] = sum(p.end_ns - p.start_ns - total("text_encode", p) for p in prior_spans)
        stage_ns["image_encode"] = total("image_encode")
        denoise = [s for s in spans if s.stage == "denoise"]
        steps = list(self._step_ns)
        if denoise:
            first = min(s.start_ns for s in denoise)
            last = max([s.end_ns for s in denoise] + [t for t in steps if t >= first])
            inner = sum(
                s.end_ns - s.start_ns
                for s in spans
                if s.stage in ("image_encode", "decode", "text_encode") and first <= s.start_ns <= last
            )
            stage_ns["denoise"] = last - first - inner
            step_edges = [first, *[t for t in steps if t >= first]]
            step_s = [(b - a) / 1e9 for a, b in itertools.pairwise(step_edges)]
        else:
            stage_ns["denoise"] = 0
            step_s = []
        stage_ns["decode"] = total("decode")
        stage_s = {k: stage_ns[k] / 1e9 for k in STAGE_ORDER if stage_ns.get(k)}
        return CallTiming(wall_s=(end_ns - start_ns) / 1e9, stage_s=stage_s, step_s=step_s, spans=spans)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _pair_spans(events: list[tuple[str, str, int]]) -> list[Span]:
    """Pair start/end events per kind into outermost spans (nested calls of one kind collapse)."""
    spans: list[Span] = []
    depth: dict[str, int] = {}
    opened: dict[str, int] = {}
    for kind, edge, t in events:
        if edge == "start":
            if depth.get(kind, 0) == 0:
                opened[kind] = t
            depth[kind] = depth.get(kind, 0) + 1
        elif depth.get(kind, 0) > 0:
            depth[kind] -= 1
            if depth[kind] == 0:
                spans.append(Span(kind, opened.pop(kind), t))
    return spans

"""Stage timing inside one pipeline call.

Hooks on the pipeline's components record when each text encoder, prior, denoiser and decoder call
starts and ends; the step-end callback records each denoising step. From those spans a call's wall
time is split into exclusive stages whose sum plus the reported remainder is the wall time:

* ``text_encode``  - text-encoder forward passes (CLIP, M-CLIP, T5, ...)
* ``prior``        - the 2.x prior pipeline call, less the text encoding inside it
* ``image_encode`` - MoVQ/VAE encoding of input images (img2img, inpaint)
* ``denoise``      - first denoiser call to the last step's end (scheduler steps included)
* ``decode``       - MoVQ/VAE decoding of the latents

On CUDA each boundary records a CUDA event on the current stream instead of waiting for the GPU; the call
synchronises once, at its end, and the spans are read from the events' elapsed times (GPU time, not the time
the host queued the work). On the CPU the boundaries are ``perf_counter_ns`` readings.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.models.types import DENOISERS

TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
AUTOENCODERS = ("movq", "vae")
STAGE_ORDER = ("text_encode", "prior", "image_encode", "denoise", "decode")


class CudaEvents(Protocol):
    """The part of ``torch.cuda`` the clock uses: timing events on the current stream and one synchronisation."""

    def record(self) -> Any: ...

    def elapsed_ms(self, start: Any, end: Any) -> float: ...

    def synchronize(self) -> None: ...


class TorchCudaEvents:
    """:class:`CudaEvents` through torch: ``torch.cuda.Event(enable_timing=True)`` recorded on the current stream."""

    def __init__(self) -> None:
        import torch

        self._torch = torch

    def record(self) -> Any:
        event = self._torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end))

    def synchronize(self) -> None:
        self._torch.cuda.synchronize()


class Clock:
    """Stage-boundary marks for one pipeline call: ``perf_counter_ns`` on the CPU, CUDA events on a GPU.

    ``mark()`` is cheap on both (no synchronisation); ``resolve()`` turns a call's marks into nanoseconds on the
    host clock, synchronising the GPU once. ``now_ns()`` is a synchronised host reading for coarse spans (load).
    """

    def __init__(self, device: str, events: CudaEvents | None = None) -> None:
        self.events = events if events is not None else (TorchCudaEvents() if device.startswith("cuda") else None)
        self._origin: Any = None
        self._origin_ns = 0
        self.synchronisations = 0

    def now_ns(self) -> int:
        if self.events is not None:
            self._synchronize()
        return time.perf_counter_ns()

    def _synchronize(self) -> None:
        if self.events is not None:
            self.events.synchronize()
            self.synchronisations += 1

    def mark(self) -> Any:
        """A point in the call: an event recorded on the stream (GPU) or the host time (CPU)."""
        return self.events.record() if self.events is not None else time.perf_counter_ns()

    def start(self) -> int:
        """Begin a call: the GPU is idle here (the previous call ended synchronised); returns the host time."""
        self._origin_ns = time.perf_counter_ns()
        self._origin = self.mark() if self.events is not None else self._origin_ns
        return self._origin_ns

    def resolve(self, marks: list[Any]) -> list[int]:
        """Host-clock nanoseconds of ``marks`` (GPU: after one synchronisation, from event elapsed times)."""
        if self.events is None:
            return [int(m) for m in marks]
        self._synchronize()
        events = self.events
        return [self._origin_ns + round(events.elapsed_ms(self._origin, m) * 1e6) for m in marks]


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
        self._events: list[tuple[str, str, Any]] = []  # (kind, edge, clock mark)
        self._step_marks: list[Any] = []
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
        self._events.append((kind, edge, self.clock.mark()))
        self._on_boundary(kind, edge)

    def stage_edge(self, stage: str, edge: str) -> None:
        """Mark the start or end of a pipeline-level stage (the 2.x prior call)."""
        self._mark(stage, edge)

    def step_end(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        """The pipeline's ``callback_on_step_end``: marks each finished denoising step."""
        self._step_marks.append(self.clock.mark())
        return callback_kwargs

    # --- per call ----------------------------------------------------------------------------------
    def begin_call(self) -> int:
        self._events.clear()
        self._step_marks.clear()
        return self.clock.start()

    def end_call(self, start_ns: int) -> CallTiming:
        marks = [m for _, _, m in self._events] + self._step_marks
        resolved = self.clock.resolve(marks)  # the one synchronisation of the call on a GPU
        end_ns = time.perf_counter_ns()
        n = len(self._events)
        events = [(kind, edge, t) for (kind, edge, _), t in zip(self._events, resolved[:n], strict=True)]
        spans = _pair_spans(events)
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
        steps = resolved[n:]
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

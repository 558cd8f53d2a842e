"""Apply a run's speed settings to its built pipelines, in the child, and keep what the record needs.

Order matters and follows the libraries' guidance: weights are quantized and re-laid-out before anything is
compiled, cache hooks are registered before compiling, and attention processors are set before both. A
setting that cannot apply raises :class:`~bench.optimise.parts.NotApplicable`; the child records the run
``skipped`` with that reason. Process-wide switches (TF32) are undone by :meth:`Tuner.restore`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from bench import stats
from bench.optimise import attention, cache, compilation, layout, quantize
from bench.optimise.parts import NotApplicable, denoisers
from bench.results.optimise import OptimiseStats
from bench.spec import RunSpec


class Tuner:
    """The settings applied to one run's pipelines: the call context, compile bookkeeping and the stats."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.opt = spec.optimise
        self.applied: list[str] = []
        self.restorers: list[Callable[[], None]] = []
        self.sdpa_seen: list[str] | None = None
        self.frames_before: int | None = None
        self.frames_after_first: int | None = None
        self.first_call_s: float | None = None
        self._hooks: list[Any] = []

    @property
    def compiles(self) -> bool:
        """Whether the first call compiles (the child then times one extra call apart, before the warmup)."""
        return self.opt.compile != "none"

    @contextlib.contextmanager
    def call_context(self) -> Iterator[None]:
        """What surrounds every pipeline call: the SDPA backend restriction (a no-op for the other settings)."""
        if self.opt.attention in attention.SDPA_BACKENDS:
            with attention.kernel_context(self.opt.attention):
                yield
        else:
            yield

    def first_call_done(self, wall_s: float) -> None:
        """Note the first call: its wall time (compile included) and the frames dynamo compiled in it."""
        if self.first_call_s is not None:
            return
        self.first_call_s = wall_s
        if self.compiles:
            self.frames_after_first = compilation.compiled_frames()
        for hook in self._hooks:  # the backends were seen inside the first call; later calls are the same
            hook.remove()
        self._hooks = []

    def watch_backends(self, pipes: dict[str, Any]) -> None:
        """Read the SDPA backends torch allows from inside the denoiser's first forward."""

        def seen(_module: Any, _args: Any) -> None:
            if self.sdpa_seen is None:
                self.sdpa_seen = attention.enabled_backends()

        self._hooks = [module.register_forward_pre_hook(seen) for _, module in denoisers(pipes)]

    def stats(self, call_s: list[float]) -> OptimiseStats:
        """The record's optimisation block, once the measured calls are known."""
        compile_s = recompiles = graphs = None
        if self.compiles and self.first_call_s is not None:
            steady = stats.percentile(call_s, 50) if call_s else 0.0
            compile_s = max(0.0, self.first_call_s - steady)
            if self.frames_after_first is not None:
                graphs = self.frames_after_first - (self.frames_before or 0)
                recompiles = compilation.compiled_frames() - self.frames_after_first
        return OptimiseStats(
            settings=self.opt.non_default(),
            applied=self.applied,
            sdpa_backends=self.sdpa_seen if self.opt.attention in attention.SDPA_BACKENDS else None,
            compile_s=compile_s,
            first_call_s=self.first_call_s if self.compiles else None,
            graphs_compiled=graphs,
            recompiles=recompiles,
        )

    def restore(self) -> None:
        """Undo process-wide switches (an in-process run must not leave TF32 on for the next one)."""
        for undo in reversed(self.restorers):
            undo()
        self.restorers = []


def apply_optimisations(pipes: dict[str, Any], spec: RunSpec) -> Tuner:
    """Apply ``spec.optimise`` to ``pipes`` through each library's API; raise NotApplicable where one cannot."""
    from bench.models.build import torch_dtype
    from bench.optimise.static import static_skip_reason

    if reason := static_skip_reason(spec):  # a run handed to the child directly gets the same rules
        raise NotApplicable(reason)
    tuner = Tuner(spec)
    try:
        _apply(tuner, pipes, torch_dtype(spec.dtype))
    except BaseException:
        tuner.restore()
        raise
    return tuner


def _apply(tuner: Tuner, pipes: dict[str, Any], dtype: Any) -> None:
    spec, opt = tuner.spec, tuner.opt
    if opt.attention in attention.SDPA_BACKENDS:
        attention.probe(opt.attention, spec.device, dtype)
        tuner.applied.append(f"attention {opt.attention}: torch.nn.attention.sdpa_kernel({opt.attention}) per call")
        tuner.watch_backends(pipes)
    elif opt.attention == "sliced":
        tuner.applied.append(attention.slice_attention(pipes))
    elif opt.attention == "xformers":
        tuner.applied.append(attention.use_xformers(pipes))
    if opt.quantization != "none":
        tuner.applied.append(quantize.quantize(pipes, opt.quantization, spec.device))
    if opt.channels_last:
        tuner.applied.append(layout.channels_last(pipes))
    for option in ("vae_tiling", "vae_slicing"):
        if getattr(opt, option):
            tuner.applied.append(layout.vae_option(pipes, option))
    if opt.tf32:
        done, undo = layout.tf32()
        tuner.applied.append(done)
        tuner.restorers.append(undo)
    if opt.cache != "none":
        tuner.applied.append(cache.enable_cache(pipes, opt))
    if tuner.compiles:
        tuner.frames_before = compilation.compiled_frames()
        tuner.applied.extend(compilation.compile_models(pipes, opt.compile, vae=opt.compile_vae))


__all__ = ["NotApplicable", "Tuner", "apply_optimisations"]

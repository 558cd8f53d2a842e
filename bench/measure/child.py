"""The child process that executes one run: ``python -m bench.measure.child SPEC.json OUT.json``.

It is the only place torch, CUDA and the pipeline live, so an OOM, crash or hang costs only this
process. It always tries to write one JSON record to OUT; the parent treats a missing record as a
crash and a kill as what it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import stats
from bench.measure import lifeline
from bench.measure.device import local_device
from bench.measure.failures import OOM_MARKERS, classify_exception, error_info
from bench.measure.preflight import apply_memory_option, build_run_pipelines, environment_skip_reason
from bench.measure.state import MeasurementState
from bench.measure.timing import CallTiming, Clock, StageRecorder
from bench.optimise.parts import NotApplicable
from bench.results import RunRecord, StageSpan
from bench.results.optimise import QualityStats
from bench.spec import RunSpec

MIB = 1024 * 1024


class _Measurement(MeasurementState):
    """The measuring loop of one run: build, apply settings, warm up, repeat; the state and record are inherited."""

    def __init__(self, spec: RunSpec) -> None:
        super().__init__(spec)
        self.tuner: Any = None  # bench.optimise.apply.Tuner when the run has speed settings

    def call_context(self) -> Any:
        return self.tuner.call_context() if self.tuner is not None else contextlib.nullcontext()

    def first_call_done(self, wall_s: float) -> None:
        if self.tuner is not None:
            self.tuner.first_call_done(wall_s)

    def finish_optimise(self, images_dir: Path | None) -> None:
        """The optimisation block of the record: settings, compile cost, and quality against the baseline cell."""
        if self.tuner is None:
            return
        from bench.optimise.quality import quality_against_baseline

        optimise = self.tuner.stats([c.wall_s for c in self.calls])
        quality: QualityStats | None = None
        try:
            quality = quality_against_baseline(self.images, images_dir, self.spec)
        except (OSError, ValueError) as exc:  # a missing or odd baseline image never loses the measurement
            self.warnings.append(f"quality guard: {type(exc).__name__}: {exc}")
        if optimise.recompiles:
            self.warnings.append(
                f"compile: {optimise.recompiles} graph(s) compiled after the first call (recompilation)"
            )
        self.optimise = optimise.model_copy(update={"quality": quality})

    def run(self, images_dir: Path | None) -> None:
        import torch

        from bench.measure.architecture import record_architecture
        from bench.measure.samplers import DEFAULT_INTERVAL_S, SamplerThread, TorchAllocatorTracker, open_samplers
        from bench.models.hub import HubLoads
        from bench.optimise.apply import apply_optimisations
        from bench.workloads import StageHooks, run_workload

        spec = self.spec
        samplers, warns = open_samplers(spec.device, os.getpid())
        self.warnings.extend(warns)
        self.sampler = SamplerThread(samplers, interval_s=DEFAULT_INTERVAL_S)
        self.allocator = TorchAllocatorTracker(spec.device)
        self.sampler.start()
        torch.manual_seed(spec.seed)
        if spec.cpu_threads:
            torch.set_num_threads(spec.cpu_threads)
        clock = Clock(spec.device)
        t0 = clock.now_ns()
        loads = HubLoads()
        pipes = build_run_pipelines(spec, loads)
        if spec.optimise.key_part:  # speed settings: part of the start-up, like the memory option
            self.tuner = apply_optimisations(pipes, spec)
        self.load_s = (clock.now_ns() - t0) / 1e9 - loads.download_s  # a download is not load time
        if spec.weights == "hub":
            self.download_s = loads.download_s if any(loads.revisions.values()) else None
            self.hub_revisions = dict(loads.revisions)
        self.spans.append(StageSpan(stage="load", start_s=0.0, end_s=self.sampler.now_s()))

        recorder = StageRecorder(clock, on_boundary=self.on_boundary)
        recorder.install(pipes)
        hooks = StageHooks(on_step_end=recorder.step_end, on_stage=recorder.stage_edge)

        def one_call() -> CallTiming:
            generator = torch.Generator("cpu").manual_seed(spec.seed)
            offset = self.sampler.now_s()
            start = recorder.begin_call()
            with self.call_context():
                self.images = run_workload(pipes, spec, generator, hooks)
            timing = recorder.end_call(start)
            for span in timing.spans:  # place the call's spans on the sampler clock
                self.spans.append(
                    StageSpan(
                        stage=span.stage,
                        start_s=offset + (span.start_ns - start) / 1e9,
                        end_s=offset + (span.end_ns - start) / 1e9,
                    )
                )
            return timing

        compile_call = 1 if self.tuner is not None and self.tuner.compiles else 0  # timed apart, paid like a warmup
        for i in range(spec.warmup + compile_call):
            timing = one_call()
            self.warmup.append(timing.wall_s)
            if i == 0:
                self.first_image_s = (clock.now_ns() - t0) / 1e9
                self.first_call_done(timing.wall_s)
        window_start = self.sampler.now_s()
        self._repeat(one_call, lambda: (clock.now_ns() - t0) / 1e9)
        self.measure_window = (window_start, self.sampler.now_s())
        recorder.remove()
        self.architecture = record_architecture(pipes, spec, self.warnings)  # what was built; after timing
        if images_dir is not None:
            save_images(self.images, images_dir, spec)
        self.finish_optimise(images_dir)

    def _repeat(self, one_call: Callable[[], CallTiming], since_start_s: Callable[[], float]) -> None:
        """The measured calls: a fixed number, or adaptive until the median is precise enough or a limit is hit."""
        spec = self.spec
        started = time.perf_counter()
        while True:
            self.calls.append(one_call())
            if self.first_image_s is None:
                self.first_image_s = since_start_s()
                self.first_call_done(self.calls[-1].wall_s)
            n = len(self.calls)
            if n < spec.repeats:
                continue
            if spec.max_repeats <= spec.repeats:
                break
            per_image = [c.wall_s / spec.images_per_call for c in self.calls]
            if stats.median_ci_ok(per_image, spec.target_ci):
                self.adaptive_stop = "ci"
            elif n >= spec.max_repeats:
                self.adaptive_stop = "max_repeats"
            elif time.perf_counter() - started >= spec.max_time_s:
                self.adaptive_stop = "max_time"
            if self.adaptive_stop:
                break


def save_images(images: list[Any], directory: Path, spec: RunSpec) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    safe = spec.run_key.replace("|", "_").replace(":", "-")
    for i, image in enumerate(images):
        image.save(directory / f"{safe}_{i}.png")


def _limit_memory(limit_mb: int | None) -> None:
    if limit_mb:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * MIB, hard))  # soft only: lifted again to record


def execute(spec: RunSpec, images_dir: Path | None = None) -> RunRecord:
    """Measure one run in this process and return its record (status ok/oom/error/skipped)."""
    measurement = _Measurement(spec)
    try:
        reason = environment_skip_reason(spec)
        if reason:
            return measurement.record("skipped", reason=reason)
        import torch  # noqa: F401  (imported before the address-space limit: its libraries need mapping)

        _limit_memory(spec.memory_limit_mb)
        measurement.run(images_dir)
    except NotApplicable as exc:  # a speed setting this model, device or library lacks: not a failure
        measurement.images = []
        _release_memory()
        return measurement.record("skipped", reason=str(exc))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        measurement.images = []
        status = classify_exception(exc)
        _release_memory()
        return measurement.record(
            status, reason=f"{type(exc).__name__}: {str(exc).strip()[:300]}", error=error_info(exc)
        )
    finally:
        if measurement.tuner is not None:
            measurement.tuner.restore()  # process-wide switches (TF32) end with the run
    return measurement.record("ok")


def _release_memory() -> None:
    import gc

    gc.collect()
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    except (ValueError, OSError):
        pass


def main(argv: list[str]) -> int:
    lifeline.arm()  # a sweep that dies (kill -9) takes this run with it, within a second
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    images_dir = Path(argv[2]) if len(argv) > 2 and argv[2] else None
    spec = RunSpec.model_validate(json.loads(spec_path.read_text(encoding="utf-8")))
    run_spec = spec.model_copy(update={"device": local_device(spec.device, os.environ)})  # pinned: cuda:0
    record = execute(run_spec, images_dir)
    if run_spec.device != spec.device:
        record = record.model_copy(update={"spec": spec})  # the record names the device the user asked for
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(record.model_dump_json(), encoding="utf-8")
    os.replace(tmp, out_path)
    return 0


__all__ = [
    "OOM_MARKERS",
    "apply_memory_option",
    "classify_exception",
    "environment_skip_reason",
    "error_info",
    "execute",
    "main",
    "save_images",
]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

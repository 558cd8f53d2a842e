"""The child process that executes one run: ``python -m bench.measure.child SPEC.json OUT.json``.

It is the only place torch, CUDA and the pipeline live, so an OOM, crash or hang costs only this
process. It always tries to write one JSON record to OUT; the parent treats a missing record as a
crash and a kill as what it was.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import __version__, stats
from bench.measure import lifeline
from bench.measure.device import local_device
from bench.measure.summary import summarise
from bench.measure.timing import STAGE_ORDER, CallTiming, Clock, StageRecorder
from bench.results import (
    EnergyStats,
    ErrorInfo,
    MemoryStats,
    RunRecord,
    StageSpan,
    Timeline,
    Timing,
    utc_now_iso,
)
from bench.spec import RunSpec

OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "std::bad_alloc")
TRACEBACK_LINES = 12
MIB = 1024 * 1024


def classify_exception(exc: BaseException) -> str:
    """``oom`` for device or host out-of-memory (however the allocator reports it), else ``error``."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "oom"
    text = str(exc).lower()
    return "oom" if any(marker in text for marker in OOM_MARKERS) else "error"


def error_info(exc: BaseException) -> ErrorInfo:
    tail = traceback.format_exception(exc)
    lines = "".join(tail).rstrip().splitlines()[-TRACEBACK_LINES:]
    return ErrorInfo(type=type(exc).__name__, message=str(exc).strip()[:2000], traceback_tail=lines)


def environment_skip_reason(spec: RunSpec) -> str | None:
    """Why this machine cannot run the spec at all (decided in the child, where CUDA may be touched).

    The rules known without a device come first: a sweep skips those runs before starting a child, but a
    run handed to the child another way (``run_in_child``, an in-process ``execute``) must not measure CPU
    offload on the CPU either (a no-op that would pass for offload, or a crash inside accelerate).
    """
    from bench.measure.runner import static_skip_reason

    if reason := static_skip_reason(spec):
        return reason
    if spec.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return "CUDA device requested but torch.cuda.is_available() is False on this machine"
        index = int(spec.device.split(":")[1]) if ":" in spec.device else 0
        if index >= torch.cuda.device_count():
            return f"{spec.device} requested but only {torch.cuda.device_count()} CUDA device(s) are visible"
    if spec.dtype == "bf16" and spec.device.startswith("cuda"):
        import torch

        from bench.measure.device import bf16_skip_reason

        return bf16_skip_reason(torch, spec.device)  # the run's own device, by compute capability
    return None


def apply_memory_option(pipes: dict[str, Any], spec: RunSpec) -> None:
    """Apply the diffusers memory option to every pipeline of the run."""
    for pipe in pipes.values():
        if spec.memory == "model_cpu_offload":
            pipe.enable_model_cpu_offload(device=spec.device)
        elif spec.memory == "sequential_cpu_offload":
            pipe.enable_sequential_cpu_offload(device=spec.device)
        elif spec.memory == "attention_slicing":
            pipe.enable_attention_slicing()


class _Measurement:
    """State of one run while it is measured; turned into a record at the end, whatever happened."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.started_at = utc_now_iso()
        self.sampler: Any = None
        self.allocator: Any = None
        self.load_s: float | None = None
        self.first_image_s: float | None = None
        self.warmup: list[float] = []
        self.calls: list[CallTiming] = []
        self.spans: list[StageSpan] = []
        self.stage_peaks_mb: dict[str, float] = {}
        self.peak_allocated_mb: float | None = None
        self.peak_reserved_mb: float | None = None
        self.adaptive_stop: str | None = None
        self.warnings: list[str] = []
        self.env: dict[str, Any] = {}
        self.measure_window: tuple[float, float] | None = None
        self.images: list[Any] = []
        self.download_s: float | None = None
        self.hub_revisions: dict[str, str | None] = {}

    # --- allocator peaks per stage (CUDA only) ----------------------------------------------------
    def on_boundary(self, stage: str, edge: str) -> None:
        if self.allocator is None or not self.spec.device.startswith("cuda"):
            return
        if edge == "start":
            self._fold_peaks()
            self.allocator.reset()
        else:
            allocated = self._fold_peaks()
            if allocated is not None:
                self.stage_peaks_mb[stage] = max(self.stage_peaks_mb.get(stage, 0.0), allocated)

    def _fold_peaks(self) -> float | None:
        """Read the allocator peaks since the last reset into the run-wide maxima."""
        allocated, reserved = self.allocator.peaks_mb()
        if allocated is not None:
            self.peak_allocated_mb = max(self.peak_allocated_mb or 0.0, allocated)
        if reserved is not None:
            self.peak_reserved_mb = max(self.peak_reserved_mb or 0.0, reserved)
        return allocated

    def run(self, images_dir: Path | None) -> None:
        import torch

        from bench.measure.samplers import DEFAULT_INTERVAL_S, SamplerThread, TorchAllocatorTracker, open_samplers
        from bench.models.build import build_pipelines
        from bench.models.hub import HubLoads
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
        build_device = "cpu" if spec.memory in ("model_cpu_offload", "sequential_cpu_offload") else spec.device
        loads = HubLoads()
        pipes = build_pipelines(
            spec.model, spec.task, spec.weights, build_device, spec.dtype, spec.hub, refiner=spec.refiner, loads=loads
        )
        apply_memory_option(pipes, spec)
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

        for i in range(spec.warmup):
            timing = one_call()
            self.warmup.append(timing.wall_s)
            if i == 0:
                self.first_image_s = (clock.now_ns() - t0) / 1e9
        window_start = self.sampler.now_s()
        started = time.perf_counter()
        while True:
            self.calls.append(one_call())
            if self.first_image_s is None:
                self.first_image_s = (clock.now_ns() - t0) / 1e9
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
        self.measure_window = (window_start, self.sampler.now_s())
        recorder.remove()
        if images_dir is not None:
            save_images(self.images, images_dir, spec)

    def record(self, status: str, reason: str | None = None, error: ErrorInfo | None = None) -> RunRecord:
        from bench.measure.env import capture_environment

        spec = self.spec
        if self.sampler is not None:
            self.sampler.stop()
            self.warnings.extend(w for w in self.sampler.warnings if w not in self.warnings)
        try:
            self.env = capture_environment(spec.device, spec=spec)
        except Exception as exc:  # environment capture must never lose a measurement
            self.warnings.append(f"environment capture failed: {type(exc).__name__}: {exc}")
        self.env.setdefault("kbench_version", __version__)
        if self.hub_revisions:
            self.env["hub_revisions"] = self.hub_revisions  # role -> snapshot commit (None: a local directory)
        timing = summary = None
        if self.load_s is not None:
            calls = self.calls
            ipc = spec.images_per_call
            stage_s = {
                k: [c.stage_s.get(k, 0.0) for c in calls] for k in STAGE_ORDER if any(k in c.stage_s for c in calls)
            }
            step_s = _median_per_index([c.step_s for c in calls])
            timing = Timing(
                load_s=self.load_s,
                download_s=self.download_s,
                first_image_s=self.first_image_s if self.first_image_s is not None else self.load_s,
                warmup_call_s=self.warmup,
                call_s=[c.wall_s for c in calls],
                per_image_s=[c.wall_s / ipc for c in calls],
                stage_s=stage_s,
                unaccounted_s=[c.unaccounted_s for c in calls],
                step_s=step_s,
                adaptive_stop=self.adaptive_stop,
            )
            if calls and status == "ok":
                summary = summarise(
                    timing.per_image_s,
                    steps=spec.steps,
                    stage_s=stage_s,
                    unaccounted_s=timing.unaccounted_s,
                    images_per_call=ipc,
                )
        return RunRecord(
            run_key=spec.run_key,
            spec=spec,
            status=status,
            reason=reason,
            error=error,
            timing=timing,
            summary=summary,
            memory=self._memory(),
            energy=self._energy(),
            timeline=self._timeline(),
            env=self.env,
            warnings=self.warnings,
            started_at=self.started_at,
            finished_at=utc_now_iso(),
            kbench_version=__version__,
        )

    def _memory(self) -> MemoryStats:
        if self.sampler is None:
            return MemoryStats()
        if self.allocator is not None:
            self._fold_peaks()
        baseline = self.sampler.series.get("vram_used_mb", [None])[0] if self.sampler.series else None
        return MemoryStats(
            peak_rss_mb=self.sampler.peak("rss_mb"),
            vram_used_peak_mb=self.sampler.peak("vram_used_mb"),
            vram_baseline_mb=baseline,
            torch_allocated_peak_mb=self.peak_allocated_mb,
            torch_reserved_peak_mb=self.peak_reserved_mb,
            stage_allocated_peak_mb=self.stage_peaks_mb,
        )

    def _energy(self) -> EnergyStats:
        if self.sampler is None or self.measure_window is None or not self.calls:
            return EnergyStats()
        start, end = self.measure_window
        joules, method = self.sampler.energy_between(start, end)
        images = len(self.calls) * self.spec.images_per_call
        return EnergyStats(
            energy_j_per_image=joules / images if joules is not None else None,
            method=method,
            mean_power_w=self.sampler.mean_between("power_w", start, end),
            max_power_w=self.sampler.peak("power_w"),
            mean_gpu_util_pct=self.sampler.mean_between("gpu_util_pct", start, end),
        )

    def _timeline(self) -> Timeline | None:
        if self.sampler is None:
            return None
        from bench.measure.samplers import DEFAULT_INTERVAL_S

        series = {k: [None if v is None else round(v, 3) for v in vals] for k, vals in self.sampler.series.items()}
        return Timeline(
            interval_s=DEFAULT_INTERVAL_S,
            t_s=[round(t, 4) for t in self.sampler.t_s],
            series=series,
            spans=[s for s in self.spans if s.stage in ("load", *STAGE_ORDER)],
        )


def _median_per_index(rows: list[list[float]]) -> list[float]:
    if not rows:
        return []
    width = min(len(r) for r in rows)
    return [stats.percentile([r[i] for r in rows], 50) for i in range(width)]


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
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        measurement.images = []
        status = classify_exception(exc)
        _release_memory()
        return measurement.record(
            status, reason=f"{type(exc).__name__}: {str(exc).strip()[:300]}", error=error_info(exc)
        )
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

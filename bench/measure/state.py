"""The state of one run while the child measures it, and how it becomes a :class:`RunRecord` whatever happened.

The measuring loop itself is :mod:`bench.measure.child`; this module holds what it fills in (timings, allocator
peaks, sampler, warnings) and the record built from it, so the loop stays short enough to read in one go.
"""

from __future__ import annotations

from typing import Any

from bench import __version__, stats
from bench.measure.summary import summarise
from bench.measure.timing import STAGE_ORDER, CallTiming
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
from bench.results.optimise import OptimiseStats
from bench.spec import RunSpec


class MeasurementState:
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
        self.optimise: OptimiseStats | None = None  # speed settings applied (none: a run with every default)

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
            architecture=getattr(self, "architecture", None),
            optimise=self.optimise,
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

"""Projection of seconds per image on any catalog GPU, with an interval, calibrated by measurements.

Per stage, the op-level model (:mod:`bench.cost.roofline`) times each component call, times the calls per image,
plus the offload transfers and a fixed per-call overhead. Its constants are fitted to published timings
(:mod:`bench.cost.fit`, ``bench/data/published_timings.yaml``) and every projected figure carries an interval from
the cross-validated residuals of that fit (:mod:`bench.cost.intervals`). A measurement of a model on one GPU
corrects the model for it: per stage, the ratio of measured to projected time carries over to every other GPU, and
the unaccounted remainder carries over as a fixed per-call overhead; calibrated figures carry the narrower interval
of a transferred ratio, widened by the measurement's own spread. Measured figures always win over projections.

TF32 is a projection option (``tf32``): fp32 matmuls on TF32 tensor cores, as a run that allowed them
(``torch.set_float32_matmul_precision("high")``, the ``tf32`` optimisation) had them. A record says whether it did
(:func:`record_tf32`), so it calibrates at its own math rate and measures only a workload of the same setting.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from bench.cost.catalog import Catalog, GpuSpec
from bench.cost.costs import usd_per_1k_images
from bench.cost.counting.profile import WorkloadProfile, profile_workload
from bench.cost.intervals import Band, apply, shipped_intervals, widen
from bench.cost.record_gpu import record_gpu
from bench.cost.roofline import (
    DEFAULT_EFF_SOURCE,
    PREVIOUS_GENERATION,
    ModelConstants,
    denoiser_kind,
    family,
    stage_times,
)
from bench.cost.vram import estimate_vram, measured_vram_gib
from bench.results import RunRecord
from bench.results.registered import stands_for_registered
from bench.spec import STAGES, Workload

Source = Literal["measured", "projected"]


@dataclass(frozen=True)
class Calibration:
    """Corrections learned from one measured record, applied to the same model on any GPU."""

    model: str
    gpu_id: str
    run_key: str
    scale: dict[str, float]  # stage -> factor on roofline time
    offload_scale: dict[str, float]  # stage -> factor on offload time
    overhead_s_per_call: float  # measured time the stages do not account for
    by_stage: bool
    spread: float = 0.0  # half-width of the measurement's 95% CI, in log units

    @property
    def label(self) -> str:
        how = "stage times" if self.by_stage else "total time"
        return f"calibrated on {self.gpu_id} by {self.run_key} ({how})"


def record_tf32(record: RunRecord) -> bool:
    """Whether a run had TF32 matmuls: its ``tf32`` optimisation, or torch's setting in its environment.

    Records from before the environment carried ``tf32_matmul`` read as off, torch's default.
    """
    return record.spec.optimise.tf32 or record.env.get("tf32_matmul") is True


def calibrate(
    record: RunRecord, gpu: GpuSpec, profile: WorkloadProfile, constants: ModelConstants | None = None
) -> Calibration:
    """Learn per-stage corrections so that projecting ``record``'s workload onto ``gpu`` gives its median.

    The record is projected at its own math rate (TF32 matmuls where it had them), so the corrections it carries
    are the model's error, not the setting's.
    """
    if record.summary is None:
        raise ValueError(f"record {record.run_key} has no summary")
    base = stage_times(profile, gpu, constants, tf32=record_tf32(record))
    median = record.summary.median_s_per_image
    measured = {s: v for s, v in record.summary.stage_s_per_image.items() if s in STAGES and v > 0}
    scale = dict.fromkeys(STAGES, 1.0)
    oscale = dict.fromkeys(STAGES, 1.0)
    accounted = 0.0
    by_stage = bool(measured)
    if by_stage:
        for stage, m_s in measured.items():
            d_s, o_s = base.roofline_s[stage], base.offload_s[stage]
            if d_s <= 0 and o_s <= 0:
                continue  # nothing projected there: it stays in the overhead
            if m_s > o_s and d_s > 0:
                scale[stage] = (m_s - o_s) / d_s
            else:  # transfer alone explains more than was measured: scale both down together
                scale[stage] = oscale[stage] = m_s / (d_s + o_s)
            accounted += m_s
        unprojected = [s for s in STAGES if s not in measured and base.roofline_s[s] + base.offload_s[s] > 0]
        for stage in unprojected:  # projected but not measured: keep default, count it as accounted
            accounted += base.roofline_s[stage] + base.offload_s[stage]
    else:  # one factor on everything the model projects, its fixed overhead included
        factor = median / base.total() if base.total() > 0 else 1.0
        scale = dict.fromkeys(STAGES, factor)
        oscale = dict.fromkeys(STAGES, factor)
        accounted = median - factor * base.overhead_s
    low, high = record.summary.ci95_low_s_per_image, record.summary.ci95_high_s_per_image
    spread = 0.5 * math.log(high / low) if 0 < low <= high else 0.0
    return Calibration(
        model=profile.workload.model,
        gpu_id=gpu.id,
        run_key=record.run_key,
        scale=scale,
        offload_scale=oscale,
        overhead_s_per_call=(median - accounted) * profile.images,
        by_stage=by_stage,
        spread=spread,
    )


@dataclass(frozen=True)
class Projection:
    """Projected seconds per image by stage and in total, with what calibrated it."""

    stage_s: dict[str, float]
    overhead_s: float
    s_per_image: float
    calibration: str


def project(
    profile: WorkloadProfile,
    gpu: GpuSpec,
    calibration: Calibration | None = None,
    constants: ModelConstants | None = None,
    *,
    tf32: bool = False,
) -> Projection:
    """Seconds per image of ``profile`` on ``gpu``: the fitted model, or corrected by ``calibration``.

    ``tf32``: fp32 matmuls run on TF32 tensor cores (no effect on fp16/bf16 math).
    """
    base = stage_times(profile, gpu, constants, tf32=tf32)
    if calibration is None:
        stage_s = {s: base.roofline_s[s] + base.offload_s[s] for s in STAGES}
        label = constants.source if constants is not None else DEFAULT_EFF_SOURCE
        return Projection(stage_s, base.overhead_s, sum(stage_s.values()) + base.overhead_s, label)
    stage_s = {
        s: calibration.scale[s] * base.roofline_s[s] + calibration.offload_scale[s] * base.offload_s[s] for s in STAGES
    }
    overhead = calibration.overhead_s_per_call / profile.images
    total = max(sum(stage_s.values()) + overhead, 0.0)
    return Projection(stage_s, overhead, total, calibration.label)


# --- estimates for the report and recommend ------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """Seconds, VRAM fit and cost of one workload on one catalog GPU, measured or projected."""

    gpu_id: str
    gpu_name: str
    run_key: str
    model: str
    task: str
    resolution: str
    steps: int
    batch_size: int
    dtype: str
    memory: str
    s_per_image: float
    vram_needed_gb: float
    fits: bool
    source: Source
    calibration: str
    usd_per_hour: float | None
    price_provider: str | None
    price_date: str | None
    price_source: str | None
    usd_per_1k_images: float | None
    vram_source: Source = "projected"
    vram_gpu_gb: float = 0.0
    price_tier: str | None = None
    stage_s_per_image: dict[str, float] = field(default_factory=dict)
    s_per_image_interval: tuple[float, float] | None = None  # None where measured (docs/projection.md)

    @property
    def headroom_gb(self) -> float:
        return self.vram_gpu_gb - self.vram_needed_gb


def workload_key(w: Workload) -> tuple[object, ...]:
    """What two runs must share for one to stand for the other (weights and language do not change compute)."""
    return (w.model, w.task, w.width, w.height, w.steps, w.images_per_call, w.dtype, w.memory, w.refiner, w.outpaint)


def _usable(record: RunRecord) -> bool:
    """A record that can stand for the full-size model on a GPU: ok, summarised, the registered architecture."""
    return record.ok and record.summary is not None and stands_for_registered(record)


Measured = list[tuple[RunRecord, GpuSpec, Workload]]
"""GPU-measured records usable for the full-size model, each with its catalog GPU and workload."""


def measured_index(records: Iterable[RunRecord], catalog: Catalog) -> Measured:
    """Match each usable record to its catalog GPU and workload once (a sweep can hold thousands)."""
    return [
        (r, g, Workload.from_spec(r.spec)) for r in records if _usable(r) and (g := record_gpu(r, catalog)) is not None
    ]


def _pick_calibration(target: Workload, measured: Measured) -> tuple[RunRecord, GpuSpec] | None:
    """Best record of the same model: same workload, then same dtype and memory, then same resolution."""
    same_model = [(r, g, w) for r, g, w in measured if r.spec.model == target.model]

    def score(item: tuple[RunRecord, GpuSpec, Workload]) -> tuple[int, int, int]:
        w = item[2]
        return (
            workload_key(w) == workload_key(target),
            (w.dtype, w.memory) == (target.dtype, target.memory),
            (w.width, w.height) == (target.width, target.height),
        )

    if not same_model:
        return None
    record, gpu, _ = max(same_model, key=score)
    return record, gpu


def _math_key(w: Workload, tf32: bool) -> tuple[object, ...]:
    """The workload key plus TF32, which changes fp32 runs only."""
    return (*workload_key(w), tf32 and w.dtype == "fp32")


class MeasuredIndex:
    """Measured records, also grouped by (GPU id, workload key, TF32) for constant-time lookups per estimate."""

    def __init__(self, items: Measured) -> None:
        self.items = items
        self.by_gpu_and_key: dict[tuple[str, tuple[object, ...]], list[RunRecord]] = {}
        for record, gpu, workload in items:
            self.by_gpu_and_key.setdefault((gpu.id, _math_key(workload, record_tf32(record))), []).append(record)

    def __iter__(self) -> Iterator[RunRecord]:
        return (record for record, _, _ in self.items)

    def records_for(self, gpu_id: str, workload: Workload, tf32: bool = False) -> list[RunRecord]:
        """The records that measured ``workload`` on ``gpu_id`` at that math setting: the one lookup of a
        measurement (the projection's and the session overhead's)."""
        return self.by_gpu_and_key.get((gpu_id, _math_key(workload, tf32)), [])


def estimate_workload(
    workload: Workload,
    catalog: Catalog,
    records: Iterable[RunRecord] = (),
    gpu_ids: list[str] | None = None,
    *,
    run_key: str | None = None,
    providers: list[str] | None = None,
    tf32: bool = False,
) -> list[Estimate]:
    """One :class:`Estimate` per catalog GPU for ``workload``: measured where a record ran it there.

    CPU records and records of another architecture (tiny weights, or a ``hub`` model whose recorded
    architecture differs from the registered one) never measure or calibrate a GPU estimate (a CPU's efficiency
    says nothing about GPU kernels, and other architectures have other costs); GPU records of the model do.
    ``tf32``: project fp32 matmuls on TF32 tensor cores; an fp32 record measures only the same setting.
    """
    measured = records if isinstance(records, MeasuredIndex) else MeasuredIndex(measured_index(records, catalog))
    profile = profile_workload(workload)
    pick = _pick_calibration(workload, measured.items)
    calibration = calibrate(pick[0], pick[1], profile_workload(Workload.from_spec(pick[0].spec))) if pick else None
    key = workload_key(workload)
    vram_estimate = estimate_vram(profile).total_gib
    out: list[Estimate] = []
    for gpu_id in gpu_ids or list(catalog.gpus):
        gpu = catalog.get(gpu_id)
        same = measured.records_for(gpu.id, workload, tf32)
        vram = vram_estimate
        vram_src: Source = "projected"
        measured_peaks = [v for r in same if (v := measured_vram_gib(r)) is not None]
        if measured_peaks:
            vram, vram_src = max(measured_peaks), "measured"
        if same:
            s = statistics.median(r.summary.median_s_per_image for r in same if r.summary is not None)
            source: Source = "measured"
            label = f"measured on {gpu.id} ({len(same)} record{'s' if len(same) > 1 else ''})"
            stages = dict(same[0].summary.stage_s_per_image) if same[0].summary else {}
        else:
            proj = project(profile, gpu, calibration, tf32=tf32)
            s, source, label, stages = proj.s_per_image, "projected", proj.calibration, proj.stage_s
            label += _unfitted_generation(gpu, catalog)
        price = gpu.cheapest_price(providers)
        interval = None if source == "measured" else apply(s, projection_band(profile, gpu, calibration))
        out.append(
            Estimate(
                gpu_id=gpu.id,
                gpu_name=gpu.name,
                run_key=run_key or "|".join(str(k) for k in key),
                model=workload.model,
                task=workload.task,
                resolution=workload.resolution,
                steps=workload.steps,
                batch_size=workload.images_per_call,
                dtype=workload.dtype,
                memory=workload.memory,
                s_per_image=s,
                vram_needed_gb=vram,
                fits=vram <= gpu.vram_gb,
                source=source,
                calibration=label,
                usd_per_hour=price.usd_per_hour if price else None,
                price_provider=price.provider if price else None,
                price_date=price.date if price else None,
                price_source=price.source if price else None,
                usd_per_1k_images=usd_per_1k_images(s, price.usd_per_hour) if price else None,
                vram_source=vram_src,
                vram_gpu_gb=gpu.vram_gb,
                price_tier=price.tier if price else None,
                stage_s_per_image=stages,
                s_per_image_interval=interval,
            )
        )
    return out


def _unfitted_generation(gpu: GpuSpec, catalog: Catalog) -> str:
    """What a projection label adds for a GPU generation no fitted row ran on: whose fractions it borrows."""
    fam = family(gpu)
    fitted = {family(catalog.gpus[g]) for g in shipped_intervals().fitted_gpus if g in catalog.gpus}
    if fam in fitted or fam not in PREVIOUS_GENERATION:
        return ""
    return f"; no published {fam} row: its attainable fractions are {PREVIOUS_GENERATION[fam]}'s, band of an unseen GPU"


def projection_band(profile: WorkloadProfile, gpu: GpuSpec, calibration: Calibration | None) -> Band:
    """The log-residual band of a projection: by what the fit had not seen, or of a calibrated transfer."""
    table = shipped_intervals()
    if calibration is not None:
        return widen(table.calibrated_band(gpu.id, calibration.gpu_id), calibration.spread)
    return table.band(gpu.id, family(gpu), profile.workload.model, denoiser_kind(profile))


__all__ = [
    "Calibration",
    "Estimate",
    "MeasuredIndex",
    "Projection",
    "calibrate",
    "estimate_workload",
    "measured_index",
    "project",
    "projection_band",
    "record_tf32",
    "workload_key",
]

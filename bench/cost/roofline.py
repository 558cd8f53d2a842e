"""The roofline: seconds of one component call on a GPU, per-stage times of a counted workload, and the fit
of the default efficiencies to published timings.

Each component call costs ``max(FLOPs / (peak · e_compute), bytes / (bandwidth · e_memory))`` (counts from
:mod:`bench.cost.counting`); CPU offload adds the weight transfers over the host link.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.cost.catalog import GpuSpec, PublishedTiming
from bench.cost.counting.ops import OpCount
from bench.cost.counting.profile import StagePart, WorkloadProfile
from bench.models.types import STAGES

# Fitted to the diffusers torch 2.0 SD 1.5 table (RTX 4090, RTX 3090, T4; fp16, SDPA, not compiled) by
# fit_efficiency(); tests/cost/test_projection.py re-fits and checks these values. Source of the timings:
# https://github.com/huggingface/diffusers/blob/main/docs/source/en/optimization/torch2.0.mdx
DEFAULT_COMPUTE_EFF = 0.55
DEFAULT_MEMORY_EFF = 0.25
DEFAULT_EFF_SOURCE = "default efficiencies fitted to diffusers' published SD 1.5 timings (docs/projection.md)"
# Host-to-device copies under CPU offload: PCIe 4.0 x16, 16 GT/s per lane x 16 lanes with 128b/130b encoding
# = 31.5 GB/s per direction (PCI-SIG). A theoretical ceiling, so offload projections are optimistic.
HOST_TO_DEVICE_GBS = 31.5
FIT_GRID = np.round(np.arange(0.05, 1.0001, 0.05), 2)


@dataclass(frozen=True)
class Efficiency:
    """Fractions of peak compute and bandwidth a stage achieves."""

    compute: float = DEFAULT_COMPUTE_EFF
    memory: float = DEFAULT_MEMORY_EFF


def call_time_s(count: OpCount, gpu: GpuSpec, dtype: str, eff: Efficiency) -> float:
    """Roofline time of one component call: the slower of its compute and its memory traffic."""
    compute_s = count.total_flops / (gpu.peak_tflops(dtype) * 1e12 * eff.compute)
    memory_s = count.total_bytes / (gpu.bandwidth_gbs * 1e9 * eff.memory)
    return max(compute_s, memory_s)


def _offload_bytes(part: StagePart, memory: str) -> float:
    """Weight bytes copied to the GPU per pipeline call for this part under CPU offload."""
    if memory == "model_cpu_offload":
        return float(part.count.weight_bytes)  # moved once per pipeline call
    if memory == "sequential_cpu_offload":
        return float(part.count.weight_bytes) * part.repeats  # streamed on every call
    return 0.0


@dataclass(frozen=True)
class StageTimes:
    """Per-image seconds by stage: roofline compute and offload transfer, kept apart for calibration."""

    roofline_s: dict[str, float]
    offload_s: dict[str, float]

    def total(self) -> float:
        return sum(self.roofline_s.values()) + sum(self.offload_s.values())


def stage_times(profile: WorkloadProfile, gpu: GpuSpec, eff: Efficiency | None = None) -> StageTimes:
    """Default (uncalibrated) per-image stage times of a counted workload on ``gpu``."""
    eff = eff or Efficiency()
    w = profile.workload
    roof = dict.fromkeys(STAGES, 0.0)
    off = dict.fromkeys(STAGES, 0.0)
    for part in profile.parts:
        roof[part.stage] += part.repeats * call_time_s(part.count, gpu, w.dtype, eff) / profile.images
        off[part.stage] += _offload_bytes(part, w.memory) / (HOST_TO_DEVICE_GBS * 1e9) / profile.images
    return StageTimes(roofline_s=roof, offload_s=off)


# --- fitting the defaults ----------------------------------------------------------------------------


def published_s_per_step(p: PublishedTiming) -> float:
    """Seconds per denoising step of a published it/s figure."""
    return 1.0 / p.value if p.unit == "it_per_s" else p.value / p.steps


def fit_efficiency(points: list[tuple[OpCount, GpuSpec, str, float]]) -> tuple[Efficiency, float]:
    """Grid-search (compute, memory) efficiencies minimising RMS log error of step times.

    Args:
        points: (counted step, GPU, dtype, published seconds per step).

    Returns:
        The best efficiencies and their RMS log error.
    """
    best: tuple[float, Efficiency] | None = None
    for ec in FIT_GRID:
        for em in FIT_GRID:
            eff = Efficiency(float(ec), float(em))
            errs = [np.log(call_time_s(c, g, d, eff) / t) for c, g, d, t in points]
            rms = float(np.sqrt(np.mean(np.square(errs))))
            if best is None or rms < best[0] - 1e-12:
                best = (rms, eff)
    if best is None:
        raise ValueError("no points to fit")
    return best[1], best[0]

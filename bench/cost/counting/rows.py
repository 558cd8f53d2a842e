"""Per-image counts by stage for a list of workloads: the data behind ``kbench flops``."""

from __future__ import annotations

from dataclasses import dataclass

from bench.cost.counting.meta import quiet
from bench.cost.counting.ops import METHOD
from bench.cost.counting.profile import profile_workload
from bench.models.registry import call_plan
from bench.models.types import DENOISERS
from bench.spec import STAGES, Workload


@dataclass(frozen=True)
class FlopsRow:
    """One line of ``kbench flops``: per-image counts by stage for one workload."""

    workload: Workload
    stage_tflops: dict[str, float]
    stage_gb: dict[str, float]
    total_tflops: float
    total_gb: float
    denoiser_call_tflops: float  # one UNet/transformer call as the pipeline makes it (CFG batch included)
    denoiser_calls_per_step: int  # 2 where CFG runs the transformer twice (Kandinsky 5), else 1
    weights_gb: float
    method: str = METHOD


def flops_table(workloads: list[Workload]) -> list[FlopsRow]:
    """Per-image TFLOPs and GB moved by stage for each workload (counted on meta)."""
    rows: list[FlopsRow] = []
    with quiet():
        for w in workloads:
            prof = profile_workload(w)
            den = [p for p in prof.parts if p.component in DENOISERS]
            calls = round(den[0].repeats / call_plan(w).denoise_steps) if den else 0
            rows.append(
                FlopsRow(
                    workload=w,
                    stage_tflops={s: prof.stage_flops_per_image(s) / 1e12 for s in STAGES},
                    stage_gb={s: prof.stage_bytes_per_image(s) / 1e9 for s in STAGES},
                    total_tflops=prof.flops_per_image() / 1e12,
                    total_gb=prof.bytes_per_image() / 1e9,
                    denoiser_call_tflops=den[0].count.total_flops / 1e12 if den else 0.0,
                    denoiser_calls_per_step=calls,
                    weights_gb=sum(prof.weights_by_component.values()) / 1e9,
                )
            )
    return rows

"""Tests of bench.cost; shared builders of synthetic run records."""

from __future__ import annotations

from typing import Any

from bench.results import EnergyStats, MemoryStats, RunRecord, Summary, Timing
from bench.spec import RunSpec


def make_record(
    *,
    model: str = "kandinsky-2.2",
    width: int = 512,
    height: int = 512,
    steps: int = 50,
    batch_size: int = 1,
    dtype: str = "fp16",
    memory: str = "none",
    weights: str = "random",
    device: str = "cuda",
    gpu_name: str | None = "NVIDIA GeForce RTX 4090",
    median_s: float = 4.0,
    stages: dict[str, float] | None = None,
    load_s: float = 30.0,
    energy_j: float | None = None,
    vram_peak_mb: float | None = None,
    status: str = "ok",
) -> RunRecord:
    """A synthetic record as the runner would write it (only the fields cost code reads are meaningful)."""
    spec = RunSpec(
        scenario="test",
        model=model,
        task="text2img",
        weights=weights,  # type: ignore[arg-type]
        width=width,
        height=height,
        steps=steps,
        batch_size=batch_size,
        guidance_scale=4.0,
        dtype=dtype,  # type: ignore[arg-type]
        memory=memory,  # type: ignore[arg-type]
        device=device,
    )
    summary = Summary(
        n=5,
        median_s_per_image=median_s,
        mean_s_per_image=median_s,
        p90_s_per_image=median_s,
        p99_s_per_image=median_s,
        min_s_per_image=median_s,
        max_s_per_image=median_s,
        cv=0.0,
        ci95_low_s_per_image=median_s,
        ci95_high_s_per_image=median_s,
        images_per_s=1.0 / median_s,
        stage_s_per_image=stages or {},
    )
    env: dict[str, Any] = {"gpu_name": gpu_name} if gpu_name else {}
    return RunRecord(
        run_key=spec.run_key,
        spec=spec,
        status=status,  # type: ignore[arg-type]
        timing=Timing(load_s=load_s, first_image_s=load_s + median_s),
        summary=summary if status == "ok" else None,
        memory=MemoryStats(vram_used_peak_mb=vram_peak_mb, vram_baseline_mb=0.0 if vram_peak_mb else None),
        energy=EnergyStats(energy_j_per_image=energy_j),
        env=env,
        started_at="2026-11-25T00:00:00Z",
        finished_at="2026-11-25T00:01:00Z",
        kbench_version="test",
    )

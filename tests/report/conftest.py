"""Result files for report tests: real RunRecords written with the real JSONL store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.cost.catalog import Catalog, load_catalog
from bench.results import EnergyStats, MemoryStats, RunRecord, StageSpan, Summary, Timeline, Timing, append_record
from bench.spec import RunSpec

XSS_SCENARIO = "<script>window.__xss = 1</script>smoke"
XSS_NEGATIVE = '<img src=x onerror="window.__xss = 2">blurry'
GPU_ENV: dict[str, Any] = {
    "gpu_name": "NVIDIA GeForce RTX 4090",
    "driver_version": "550.54.15",
    "torch_cuda_version": "12.4",
    "torch_version": "2.4.1",
    "diffusers_version": "0.42.1",
    "transformers_version": "5.24.0",
    "host": "bench-01",
}
CPU_ENV: dict[str, Any] = {
    "cpu_model": "AMD EPYC 7B13",
    "torch_version": "2.4.1",
    "diffusers_version": "0.42.1",
    "host": "ci-runner",
    "gpu_name": None,
}

# (model, width, median s/image, p90 s/image, VRAM peak MB): the hand-chosen numbers tests check for.
OK_RUNS = (
    ("kandinsky-2.2", 512, 0.9, 1.0, 7100.0),
    ("kandinsky-2.2", 768, 1.6, 1.7, 7900.0),
    ("kandinsky-2.2", 1024, 2.4, 2.6, 9400.0),
    ("kandinsky-3", 512, 2.0, 2.2, 17800.0),
    ("kandinsky-3", 1024, 5.4, 5.9, 21500.0),
)
STAGE_SHARE = {"text_encode": 0.05, "prior": 0.2, "denoise": 0.65, "decode": 0.08}  # the rest is "other"


def make_spec(model: str = "kandinsky-2.2", width: int = 512, **kw: Any) -> RunSpec:
    values: dict[str, Any] = {
        "scenario": XSS_SCENARIO,
        "scenario_file": "scenarios/smoke.yaml",
        "model": model,
        "task": "text2img",
        "weights": "random",
        "width": width,
        "height": width,
        "steps": 50,
        "guidance_scale": 4.0,
        "dtype": "fp16",
        "device": "cuda",
        "negative_prompt": XSS_NEGATIVE,
    }
    values.update(kw)
    return RunSpec(**values)


def make_summary(median: float, p90: float) -> Summary:
    return Summary(
        n=5,
        median_s_per_image=median,
        mean_s_per_image=median,
        p90_s_per_image=p90,
        p99_s_per_image=p90,
        min_s_per_image=median * 0.95,
        max_s_per_image=p90,
        cv=0.02,
        ci95_low_s_per_image=median * 0.97,
        ci95_high_s_per_image=median * 1.03,
        images_per_s=1.0 / median,
        s_per_step=median * 0.65 / 50,
        stage_s_per_image={k: median * v for k, v in STAGE_SHARE.items()},
        unaccounted_s_per_image=median * 0.02,
    )


def make_timeline(median: float, peak_mb: float, series: str = "vram_used_mb") -> Timeline:
    """Memory climbs through the stages of one call; spans mark the stages on the sampler clock."""
    spans, start = [], 1.0
    for stage, share in STAGE_SHARE.items():
        spans.append(StageSpan(stage=stage, start_s=start, end_s=start + median * share))
        start += median * share
    n = 40
    t_s = [i * (start + 1.0) / n for i in range(n)]
    values: list[float | None] = [peak_mb * (0.3 + 0.7 * min(t / start, 1.0)) for t in t_s]
    values[3] = None  # a missed sample must not break the plot
    return Timeline(interval_s=t_s[1], t_s=t_s, series={series: values}, spans=spans)


def make_record(spec: RunSpec, status: str = "ok", **kw: Any) -> RunRecord:
    values: dict[str, Any] = {
        "run_key": spec.run_key,
        "spec": spec,
        "status": status,
        "env": GPU_ENV,
        "started_at": "2026-11-20T10:00:00+00:00",
        "finished_at": "2026-11-20T10:05:00+00:00",
        "kbench_version": "0.1.0",
    }
    values.update(kw)
    return RunRecord(**values)


def ok_record(model: str, width: int, median: float, p90: float, vram_mb: float) -> RunRecord:
    spec = make_spec(model, width)
    return make_record(
        spec,
        timing=Timing(load_s=20.0, first_image_s=25.0, call_s=[median] * 5, per_image_s=[median] * 5),
        summary=make_summary(median, p90),
        memory=MemoryStats(vram_used_peak_mb=vram_mb, torch_reserved_peak_mb=vram_mb - 500, peak_rss_mb=3000.0),
        energy=EnergyStats(energy_j_per_image=median * 300.0, method="counter", mean_power_w=300.0),
        timeline=make_timeline(median, vram_mb),
        warnings=["GPU busy: another process uses 300 MB <pid 42>"] if width == 512 else [],
    )


def all_records() -> list[RunRecord]:
    records = [ok_record(*run) for run in OK_RUNS]
    records.append(
        make_record(
            make_spec("kandinsky-3", 2048),
            status="oom",
            reason="CUDA out of memory. Tried to allocate 4.00 GiB",
            memory=MemoryStats(vram_used_peak_mb=24100.0),
        )
    )
    records.append(
        make_record(
            make_spec("kandinsky-3", 1024, memory="sequential_cpu_offload"),
            status="skipped",
            reason="needs accelerate <1.0> & a GPU",
        )
    )
    cpu_spec = make_spec("kandinsky-2.2", 256, weights="tiny", device="cpu", dtype="fp32", steps=4)
    records.append(
        make_record(
            cpu_spec,
            timing=Timing(load_s=1.0, first_image_s=1.5, call_s=[0.31] * 5, per_image_s=[0.31] * 5),
            summary=make_summary(0.31, 0.35),
            memory=MemoryStats(peak_rss_mb=812.0),
            timeline=make_timeline(0.31, 812.0, series="rss_mb"),
            env=CPU_ENV,
        )
    )
    return records


def write_results(path: Path, records: list[RunRecord]) -> Path:
    for rec in records:
        append_record(path, rec)
    return path


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    """A results file with 5 ok GPU runs (2 models, 2-3 resolutions), an oom, a skipped and a tiny CPU run."""
    return write_results(tmp_path / "results" / "smoke.jsonl", all_records())


CATALOG = load_catalog(overrides={"rtx4090": 0.36})
"""The bundled catalog with the RTX 4090 at a hand-picked $0.36/h, so costs are easy to check by hand."""


@pytest.fixture
def catalog() -> Catalog:
    return CATALOG

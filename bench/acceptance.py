"""The GPU acceptance checks: ``python -m bench.acceptance [-o results.jsonl]`` or ``nox -s gpu``.

What no test without a GPU can show, checked on a real one in a few minutes: NVML memory against the torch
allocator and ``nvidia-smi``; CUDA-event stage times against wall time; the energy counter against the power
integral; one full-size ``random`` model of each family at a small size in fp16 and bf16 (bf16 skipped below
compute capability 8.0); a run on ``cuda:1`` when a second GPU exists. Each check prints PASS, FAIL or SKIP
with its numbers; every run record goes to one results file. Exit 0 when nothing failed, 1 otherwise, 2 when
this machine has no CUDA GPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.spec import RunSpec

MIB = 1024 * 1024
FAMILY_MODELS = ("kandinsky-2.2", "kandinsky-3", "sdxl-base", "flux.1-schnell", "kandinsky-5-lite")
SMALL = {"kandinsky-5-lite": 1024}  # Kandinsky 5 generates only at its trained sizes
NVML_VS_SMI_MIB = 64.0  # nvidia-smi rounds to MiB and samples at another instant
ENERGY_TOLERANCE = 0.15


@dataclass
class Check:
    name: str
    status: str  # PASS | FAIL | SKIP
    detail: str


def _spec(model: str, dtype: str, device: str, steps: int = 2, weights: str = "random") -> RunSpec:
    side = SMALL.get(model, 256)
    return RunSpec(
        scenario="gpu-acceptance",
        model=model,
        task="text2img",
        weights=weights,
        width=side,
        height=side,
        steps=steps,
        prior_steps=2,
        guidance_scale=4.0,
        dtype=dtype,
        device=device,
        warmup=1,
        repeats=3,
        max_repeats=3,
        timeout_s=900,
    )


def check_memory(torch: Any) -> Check:
    """1 GiB allocated on cuda:0: NVML's used memory grows by at least that, and agrees with nvidia-smi."""
    from bench.measure.samplers.nvml import load_nvml, open_gpu, shutdown_nvml

    nvml, warning = load_nvml()
    if nvml is None:
        return Check("nvml-memory", "FAIL", warning or "NVML unavailable")
    try:
        index, handle = open_gpu(nvml, "cuda:0")
        torch.zeros(1, device="cuda")
        torch.cuda.synchronize()
        before = nvml.nvmlDeviceGetMemoryInfo(handle).used / MIB
        block = torch.empty(1024 * MIB, dtype=torch.uint8, device="cuda")
        torch.cuda.synchronize()
        after = nvml.nvmlDeviceGetMemoryInfo(handle).used / MIB
        allocated = torch.cuda.memory_allocated() / MIB
        smi = _smi_used_mib(index)
        del block
    finally:
        shutdown_nvml(nvml)
    grew = after - before
    ok = grew >= 1024 - 1 and allocated >= 1024 and (smi is None or abs(smi - after) <= NVML_VS_SMI_MIB)
    detail = f"NVML +{grew:.0f} MiB, allocator {allocated:.0f} MiB, NVML {after:.0f} vs nvidia-smi {smi} MiB"
    return Check("nvml-memory", "PASS" if ok else "FAIL", detail)


def _smi_used_mib(index: int) -> float | None:
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", f"--id={index}", "--query-gpu=memory.used", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=30, check=True)
        return float(out.stdout.strip().splitlines()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def check_energy(torch: Any) -> Check:
    """Five seconds of matmuls: the energy counter and the power integral agree within 15%."""
    from bench.measure.samplers import SamplerThread, open_samplers

    samplers, warns = open_samplers("cuda:0", os.getpid())
    thread = SamplerThread(samplers, interval_s=0.05)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    thread.start()
    start = thread.now_s()
    end_at = time.perf_counter() + 5.0
    while time.perf_counter() < end_at:
        a @ a
        torch.cuda.synchronize()
    end = thread.now_s()
    thread.stop()
    counter, method = thread.energy_between(start, end)
    times, powers = thread._points("power_w")
    if counter is None or method != "counter" or not times:
        return Check("energy", "SKIP", f"no energy counter on this GPU ({method}); {'; '.join(warns)}")
    from bench.measure.samplers.thread import trapezoid

    integral = trapezoid(times, powers, start, end)
    ratio = counter / integral if integral else float("inf")
    status = "PASS" if abs(ratio - 1) <= ENERGY_TOLERANCE else "FAIL"
    return Check("energy", status, f"counter {counter:.0f} J, power integral {integral:.0f} J (ratio {ratio:.3f})")


def check_run(spec: RunSpec, records: list[Any]) -> Check:
    """One run in a child process: ok, stages within the wall time, allocator peak beside the estimate."""
    from bench.measure.runner import run_in_child

    record = run_in_child(spec, timeout_s=spec.timeout_s)
    records.append(record)
    name = f"run {spec.model} {spec.dtype} {spec.device}"
    if record.status == "skipped":
        return Check(name, "SKIP", record.reason or "")
    if record.status != "ok" or record.summary is None or record.timing is None:
        return Check(name, "FAIL", f"{record.status}: {record.reason}")
    wall = sum(record.timing.call_s) / len(record.timing.call_s)
    stages = sum(sum(v) for v in record.timing.stage_s.values()) / len(record.timing.call_s)
    ok = 0 < stages <= wall and (wall - stages) < 0.25 * wall
    peak = record.memory.torch_allocated_peak_mb
    detail = f"{record.summary.median_s_per_image:.3f} s/image, stages {stages:.3f} of {wall:.3f} s, peak {peak} MiB"
    return Check(name, "PASS" if ok else "FAIL", detail)


def check_second_gpu(torch: Any, records: list[Any]) -> Check:
    """A run asked for cuda:1 runs on physical GPU 1 (no context of its own on GPU 0)."""
    if torch.cuda.device_count() < 2:
        return Check("cuda:1", "SKIP", "one GPU visible")
    spec = _spec("kandinsky-2.2", "fp16", "cuda:1", weights="tiny")
    result = check_run(spec, records)
    record = records[-1]
    if result.status == "PASS" and record.env.get("gpu_index") != 1:
        return Check("cuda:1", "FAIL", f"ran on GPU {record.env.get('gpu_index')}")
    return Check("cuda:1", result.status, result.detail)


def run_checks(out: Path) -> list[Check]:
    import torch

    from bench.results import append_record

    records: list[Any] = []
    checks: list[Callable[[], Check]] = [lambda: check_memory(torch), lambda: check_energy(torch)]
    checks += [partial(check_run, _spec(m, d, "cuda"), records) for m in FAMILY_MODELS for d in ("fp16", "bf16")]
    checks.append(lambda: check_second_gpu(torch, records))
    results = []
    for check in checks:
        try:
            result = check()
        except Exception as exc:  # one broken check must not hide the others
            result = Check(getattr(check, "__name__", "check"), "FAIL", f"{type(exc).__name__}: {exc}")
        print(f"{result.status:4}  {result.name}: {result.detail}", flush=True)
        results.append(result)
    for record in records:
        append_record(out, record)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.acceptance", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("results/gpu-acceptance.jsonl"))
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu acceptance: needs a CUDA GPU (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    results = run_checks(args.output)
    failed = [r for r in results if r.status == "FAIL"]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed; records in {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

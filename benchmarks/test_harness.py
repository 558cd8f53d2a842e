"""Targets of the measurement engine, run by ``nox -s bench``:

* harness overhead (stage hooks + a 50 ms sampler thread) under 1% of wall time,
* stage times summing to the wall time within 2%,
* run-to-run coefficient of variation of the tiny CPU run (reported).

``KBENCH_BENCH_DEVICE=cuda`` runs the same interleaved comparison on a GPU (CUDA-event stage timing).
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
import torch

from bench.measure.samplers import DEFAULT_INTERVAL_S, SamplerThread, open_samplers
from bench.measure.timing import Clock, StageRecorder
from bench.models.build import build_pipelines
from bench.workloads import StageHooks, run_workload
from tests.factories import tiny_spec

CALLS = 20
DEVICE = os.environ.get("KBENCH_BENCH_DEVICE", "cpu")
SPEC = tiny_spec(scenario="bench", steps=10, prior_steps=3, device=DEVICE)


@pytest.fixture(scope="module")
def pipes():
    torch.set_num_threads(1)  # one core for the pipeline, one for the sampler: less scheduler noise
    built = build_pipelines(SPEC.model, SPEC.task, SPEC.weights, DEVICE, SPEC.dtype)
    for _ in range(3):
        run_workload(built, SPEC, torch.Generator().manual_seed(0), StageHooks())
    return built


def _plain_call(pipes) -> float:
    start = time.perf_counter()
    run_workload(pipes, SPEC, torch.Generator().manual_seed(0), StageHooks())
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()  # the instrumented call ends synchronised too
    return time.perf_counter() - start


def _interleaved(pipes) -> tuple[list[float], list[float], list[float], list[float]]:
    """Alternate plain and instrumented calls so drifts in machine load hit both equally."""
    recorder = StageRecorder(Clock(DEVICE))
    samplers, _ = open_samplers(DEVICE, os.getpid())
    thread = SamplerThread(samplers, interval_s=DEFAULT_INTERVAL_S)
    plain, instrumented, stage_sums = [], [], []
    for _ in range(CALLS):
        plain.append(_plain_call(pipes))
        recorder.install(pipes)
        thread.start() if not thread.t_s else None
        hooks = StageHooks(on_step_end=recorder.step_end, on_stage=recorder.stage_edge)
        begin = recorder.begin_call()
        run_workload(pipes, SPEC, torch.Generator().manual_seed(0), hooks)
        timing = recorder.end_call(begin)
        recorder.remove()
        instrumented.append(timing.wall_s)
        stage_sums.append(sum(timing.stage_s.values()))
    thread.stop()
    per_image = [w / SPEC.images_per_call for w in plain]
    return plain, instrumented, stage_sums, per_image


def test_harness_overhead_and_stage_sum(benchmark, pipes):
    plain, instrumented, stage_sums, per_image = benchmark.pedantic(_interleaved, args=(pipes,), rounds=1, iterations=1)
    overhead = statistics.median(instrumented) / statistics.median(plain) - 1
    wall = statistics.median(instrumented)
    stage_gap = 1 - statistics.median(stage_sums) / wall
    cv = statistics.stdev(per_image) / statistics.mean(per_image)
    benchmark.extra_info.update(
        overhead_pct=round(100 * overhead, 3),
        stage_sum_gap_pct=round(100 * stage_gap, 3),
        plain_median_s=round(statistics.median(plain), 5),
        instrumented_median_s=round(wall, 5),
        run_to_run_cv_pct=round(100 * cv, 3),
        calls=CALLS,
    )
    print(f"\noverhead {100 * overhead:.2f}%  stage-sum gap {100 * stage_gap:.2f}%  CV {100 * cv:.2f}%")
    assert overhead < 0.01, f"harness overhead {100 * overhead:.2f}% >= 1%"
    assert 0 <= stage_gap < 0.02, f"stages cover {100 * (1 - stage_gap):.2f}% of the wall time"

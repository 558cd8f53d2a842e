"""Noise floor of ``kbench compare`` on real CPU measurements, run by ``nox -s bench``.

Six runs of the same tiny scenario are measured in child processes. Every ordered pair is an A/A
comparison (none may be flagged). Their per-image times, each divided by its run's median, form the
empirical noise of this machine; resampling it gives the detection rate of a true slowdown, and the
smallest slowdown detected in 95% of trials.
"""

from __future__ import annotations

import itertools
import statistics

import numpy as np

from bench.compare.calibration import detection_rate
from bench.compare.engine import compare_records
from bench.compare.thresholds import build_thresholds
from bench.measure.runner import run_in_child
from tests.factories import tiny_spec

RUNS = 6
SPEC = tiny_spec(
    scenario="noise",
    model="kandinsky-3",
    steps=10,
    guidance_scale=3.0,
    cpu_threads=1,
    warmup=2,
    repeats=10,
    max_repeats=10,
)


def _measure() -> list:
    records = [run_in_child(SPEC, timeout_s=300) for _ in range(RUNS)]
    assert all(r.status == "ok" for r in records), [r.reason for r in records]
    return records


def test_compare_noise_floor_on_cpu(benchmark):
    records = benchmark.pedantic(_measure, rounds=1, iterations=1)
    thresholds = build_thresholds()
    pairs = list(itertools.permutations(records, 2))
    false_alarms = sum(compare_records([a], [b], thresholds).has_regression for a, b in pairs)

    residuals = np.concatenate(
        [np.asarray(r.timing.per_image_s) / statistics.median(r.timing.per_image_s) for r in records]
    )
    cv = float(np.std(residuals, ddof=1) / np.mean(residuals))

    def empirical(rng: np.random.Generator, n: int, _cv: float, median_s: float) -> np.ndarray:
        return median_s * rng.choice(residuals, size=n, replace=True)

    smallest = None
    for pct in range(1, 51):
        if detection_rate(pct / 100, n=SPEC.repeats, trials=300, sampler=empirical, n_resamples=500) >= 0.95:
            smallest = pct
            break
    benchmark.extra_info.update(
        aa_pairs=len(pairs),
        aa_false_alarms=false_alarms,
        empirical_cv_pct=round(100 * cv, 2),
        smallest_detected_slowdown_pct=smallest,
    )
    print(
        f"\nA/A false alarms {false_alarms}/{len(pairs)}; CPU per-image CV {100 * cv:.2f}%; "
        f"smallest slowdown detected in 95% of trials: {smallest}%"
    )
    assert false_alarms == 0

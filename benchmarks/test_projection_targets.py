"""Targets of the projection, run by ``nox -s bench`` (docs/projection.md has the numbers):

* cross-validated median |error| <= 15% and p90 <= 35% (leave-one-GPU-out and leave-one-model-out),
* no held-out row off by more than 2x,
* the interval covers the published value for >= 80% of held-out rows,
* one workload projected on every catalog GPU in under 1 s once its counts are cached.

Targets the model does not reach are ``xfail(strict=True)`` with the reason: they fail loudly the day they pass.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from bench.cost.catalog import load_catalog
from bench.cost.fit import summarise
from bench.cost.projection import estimate_workload
from bench.cost.roofline import shipped_constants
from bench.cost.validation import Validation, load_cases, validate
from bench.spec import Workload

CAT = load_catalog()


@functools.cache
def _validation() -> Validation:
    return validate(load_cases(CAT), shipped_constants())


def _cv(name: str) -> np.ndarray:
    v = _validation()
    return {"gpu": v.cv_gpu, "model": v.cv_model}[name]


@pytest.mark.parametrize("held_out", ["gpu", "model"])
def test_cross_validated_median_error_is_at_most_15_percent(benchmark, held_out):
    summary = benchmark.pedantic(summarise, args=(_cv(held_out),), rounds=1, iterations=1)
    assert summary["median"] <= 0.15


@pytest.mark.parametrize("held_out", ["gpu", "model"])
def test_cross_validated_p90_error_is_at_most_35_percent(benchmark, held_out):
    summary = benchmark.pedantic(summarise, args=(_cv(held_out),), rounds=1, iterations=1)
    assert summary["p90"] <= 0.35


@pytest.mark.xfail(
    strict=True,
    reason="sequential offload rests on one source (SDXL, A100 40 GB): held out, its per-module cost and link "
    "efficiency fall back to their priors and the row comes out ~2.1x too fast",
)
@pytest.mark.parametrize("held_out", ["gpu", "model"])
def test_no_held_out_row_is_off_by_more_than_2x(benchmark, held_out):
    residuals = benchmark.pedantic(np.asarray, args=(_cv(held_out),), rounds=1, iterations=1)
    assert np.all(np.abs(residuals) <= np.log(2.0))


def test_interval_covers_80_percent_of_rows_with_their_gpu_held_out(benchmark):
    coverage = benchmark.pedantic(lambda: _validation().coverage["leave_one_gpu_out"], rounds=1, iterations=1)
    assert coverage >= 0.8


def test_interval_covers_80_percent_of_rows_with_their_model_held_out(benchmark):
    """Reached once an unseen model's band took the spread of the per-model biases (bench.cost.intervals)."""
    coverage = benchmark.pedantic(lambda: _validation().coverage["leave_one_model_out"], rounds=1, iterations=1)
    assert coverage >= 0.8


def test_one_workload_on_every_catalog_gpu_in_under_a_second(benchmark):
    w = Workload(model="kandinsky-3", task="text2img", width=1024, height=1024, steps=50, memory="model_cpu_offload")
    estimate_workload(w, CAT)  # counts on meta once (cached)
    estimates = benchmark(estimate_workload, w, CAT)
    assert len(estimates) == len(CAT.gpus) and all(e.s_per_image_interval for e in estimates)
    assert benchmark.stats is None or benchmark.stats.stats.max < 1.0

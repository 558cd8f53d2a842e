"""One run measured in-process by the child's ``execute``: repeats, adaptive stopping, record contents."""

from __future__ import annotations

import pytest

from bench.measure.child import classify_exception, execute
from tests.factories import tiny_spec


def test_fixed_repeats_record():
    record = execute(tiny_spec(warmup=1, repeats=3, max_repeats=3, steps=3))
    assert record.status == "ok", record.reason
    timing, summary = record.timing, record.summary
    assert timing is not None and summary is not None
    assert len(timing.call_s) == 3 and len(timing.warmup_call_s) == 1
    assert timing.adaptive_stop is None
    assert len(timing.step_s) == 3
    assert timing.first_image_s > timing.load_s > 0
    assert summary.n == 3 and summary.min_s_per_image <= summary.median_s_per_image <= summary.max_s_per_image
    assert set(summary.stage_s_per_image) == {"text_encode", "prior", "denoise", "decode"}
    assert summary.s_per_step == pytest.approx(summary.stage_s_per_image["denoise"] / 3)
    assert record.memory.peak_rss_mb and record.memory.peak_rss_mb > 100
    assert record.timeline is not None and record.timeline.t_s and "rss_mb" in record.timeline.series
    stages = {s.stage for s in record.timeline.spans}
    assert {"load", "text_encode", "prior", "denoise", "decode"} <= stages
    assert record.env["scenario_sha256"] is None or isinstance(record.env["scenario_sha256"], str)


def test_adaptive_stops_when_the_median_is_precise_enough():
    # a target far wider than any spread (even a busy machine's 5x outlier) is met as soon as the CI exists
    record = execute(tiny_spec(warmup=1, repeats=6, max_repeats=40, target_ci=1e6))
    assert record.timing is not None
    assert record.timing.adaptive_stop == "ci"
    assert len(record.timing.call_s) == 6


def test_adaptive_stops_at_max_repeats():
    record = execute(tiny_spec(warmup=0, repeats=2, max_repeats=4, target_ci=1e-9))
    assert record.timing is not None
    assert record.timing.adaptive_stop == "max_repeats"
    assert len(record.timing.call_s) == 4


def test_adaptive_stops_at_max_time():
    record = execute(tiny_spec(warmup=0, repeats=2, max_repeats=10_000, target_ci=1e-9, max_time_s=0.5))
    assert record.timing is not None
    assert record.timing.adaptive_stop == "max_time"
    assert 2 <= len(record.timing.call_s) < 10_000


class OutOfMemoryError(RuntimeError):
    """Same name as torch.OutOfMemoryError (CUDA), which cannot be raised without a GPU."""


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (MemoryError(), "oom"),
        (OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "oom"),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), "oom"),
        (ValueError("bad shape"), "error"),
    ],
)
def test_classify_exception(exc, status):
    assert classify_exception(exc) == status


def test_sdxl_with_refiner_is_measured_end_to_end():
    record = execute(tiny_spec(model="sdxl-base", refiner=True, steps=5, guidance_scale=5.0, warmup=0, repeats=1))
    assert record.status == "ok", record.reason
    assert record.run_key.endswith("|refiner")
    assert record.summary is not None and record.summary.stage_s_per_image["denoise"] > 0

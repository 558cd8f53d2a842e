"""Compare on real measurements: tiny pipelines run on the CPU in child processes.

A/A: the same scenario measured twice must not be flagged. A/B: the same scenario doing more
denoising work (50% more steps, relabelled as the baseline's run, i.e. "the code got slower") must be
flagged, and the reverse reported as an improvement.
"""

from __future__ import annotations

import pytest

from bench.compare.engine import compare_records
from bench.compare.thresholds import build_thresholds
from bench.measure.runner import run_in_child
from bench.results import RunRecord
from bench.spec import RunSpec
from tests.factories import tiny_spec

pytestmark = pytest.mark.slow


def _spec(steps: int) -> RunSpec:
    return tiny_spec(
        scenario="ab",
        model="kandinsky-3",
        steps=steps,
        guidance_scale=3.0,
        cpu_threads=1,
        warmup=2,
        repeats=12,
        max_repeats=12,
    )


PROCESSES_PER_SIDE = 2  # each side pools two child processes, measured interleaved, as a CI job should


def _measure(steps: int) -> RunRecord:
    record = run_in_child(_spec(steps), timeout_s=300)
    assert record.status == "ok", record.reason
    return record


def _as_baseline_run(records: list[RunRecord], like: RunRecord) -> list[RunRecord]:
    """Give measurements the identity of another run (same key), as a code change would."""
    return [r.model_copy(update={"spec": like.spec, "run_key": like.run_key}) for r in records]


@pytest.fixture(scope="module")
def measured() -> dict[str, list[RunRecord]]:
    """A, A' (the same work) and B (50% more denoising steps), interleaved so slow drifts hit all three."""
    sides: dict[str, list[RunRecord]] = {"a1": [], "a2": [], "b": []}
    for _ in range(PROCESSES_PER_SIDE):
        sides["a1"].append(_measure(10))
        sides["a2"].append(_measure(10))
        sides["b"].append(_measure(15))
    return sides


def test_a_a_is_not_a_regression(measured):
    thresholds = build_thresholds()
    for first, second in (("a1", "a2"), ("a2", "a1")):
        report = compare_records(measured[first], measured[second], thresholds)
        assert not report.has_regression, report.runs[0].time


def test_a_b_slowdown_is_flagged_and_speedup_reported(measured):
    thresholds = build_thresholds()
    base = measured["a1"][0]
    slower = _as_baseline_run(measured["b"], base)
    report = compare_records(measured["a1"], slower, thresholds)
    assert report.has_regression
    assert report.runs[0].time.verdict == "regression"
    faster = _as_baseline_run(measured["a1"], measured["b"][0])
    report = compare_records(measured["b"], faster, thresholds)
    assert not report.has_regression
    assert report.runs[0].time.verdict == "improvement"

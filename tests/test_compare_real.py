"""Compare on real measurements: tiny pipelines run on the CPU in child processes.

A/A: the same scenario measured twice must not be flagged. A/B: the same scenario doing more
denoising work (four times the steps, relabelled as the baseline's run, i.e. "the code got slower") must be
flagged, and the reverse reported as an improvement.

The effect is sized for a busy machine: the test measures its own noise (how far the medians of the four A
processes spread; on a 2-core runner shared with other jobs that reaches 70%) and first checks that the
slowdown, as a ratio, exceeds that noise one and a half times over, plus the 5% threshold, so a loaded CI
runner makes the measurements noisier without making the detection a coin toss. The A/A check stays strict:
no regression, either way round.
"""

from __future__ import annotations

import pytest

from bench.compare.engine import compare_records
from bench.compare.thresholds import build_thresholds
from bench.measure.runner import run_in_child
from bench.results import RunRecord
from bench.spec import RunSpec
from bench.stats import percentile
from tests.factories import tiny_spec

pytestmark = pytest.mark.slow


def _spec(steps: int) -> RunSpec:
    return tiny_spec(
        scenario="ab",
        model="kandinsky-3",
        steps=steps,
        guidance_scale=3.0,
        cpu_threads=1,
        warmup=1,
        repeats=8,
        max_repeats=8,
    )


PROCESSES_PER_SIDE = 2  # each side pools two child processes, measured interleaved, as a CI job should
A_STEPS, B_STEPS = 10, 40  # B does four times the denoising: about +200%, far outside busy-machine noise


def _measure(steps: int) -> RunRecord:
    record = run_in_child(_spec(steps), timeout_s=300)
    assert record.status == "ok", record.reason
    return record


def _as_baseline_run(records: list[RunRecord], like: RunRecord) -> list[RunRecord]:
    """Give measurements the identity of another run (same key), as a code change would."""
    return [r.model_copy(update={"spec": like.spec, "run_key": like.run_key}) for r in records]


@pytest.fixture(scope="module")
def measured() -> dict[str, list[RunRecord]]:
    """A, A' (the same work) and B (four times the denoising steps), interleaved so slow drifts hit all three."""
    sides: dict[str, list[RunRecord]] = {"a1": [], "a2": [], "b": []}
    for _ in range(PROCESSES_PER_SIDE):
        sides["a1"].append(_measure(A_STEPS))
        sides["a2"].append(_measure(A_STEPS))
        sides["b"].append(_measure(B_STEPS))
    return sides


def _median(records: list[RunRecord]) -> float:
    return percentile([s for r in records for s in r.timing.per_image_s], 50)


def _noise(measured: dict[str, list[RunRecord]]) -> float:
    """This machine's noise right now, relative: how far the medians of the four A processes (the same work)
    spread, max/min - 1. That drift between processes is what a comparison of pooled medians must see through."""
    medians = [percentile(r.timing.per_image_s, 50) for side in ("a1", "a2") for r in measured[side]]
    return max(medians) / min(medians) - 1


def test_a_a_is_not_a_regression(measured):
    thresholds = build_thresholds()
    for first, second in (("a1", "a2"), ("a2", "a1")):
        report = compare_records(measured[first], measured[second], thresholds)
        assert not report.has_regression, report.runs[0].time


def test_a_b_slowdown_is_flagged_and_speedup_reported(measured):
    effect = _median(measured["b"]) / _median(measured["a1"]) - 1
    noise = _noise(measured)
    print(f"A/B slowdown {effect:+.0%}, A/A process-to-process noise {noise:.1%}")
    # the slowest A process against the fastest B one must still clear the 5% threshold, with room to spare
    assert 1 + effect >= 1.05 * (1 + noise) ** 1.5, f"slowdown {effect:.0%} is not >> this machine's noise {noise:.0%}"
    thresholds = build_thresholds()
    base = measured["a1"][0]
    slower = _as_baseline_run(measured["b"], base)
    report = compare_records(measured["a1"], slower, thresholds)
    t = report.runs[0].time
    print(f"A -> B: ratio {t.ratio:.2f} [{t.ci_low:.2f}, {t.ci_high:.2f}] {t.verdict}")
    assert report.has_regression
    assert report.runs[0].time.verdict == "regression"
    faster = _as_baseline_run(measured["a1"], measured["b"][0])
    report = compare_records(measured["b"], faster, thresholds)
    assert not report.has_regression
    assert report.runs[0].time.verdict == "improvement"

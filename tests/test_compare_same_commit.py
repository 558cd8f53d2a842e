"""The same commit measured twice never fails the compare gate when each run has too few samples to judge.

Built from real recorded samples (the bundled example's six runs, three repeats each, measured on a 2-core CPU):
the "current" side is each run's own samples, shuffled and scaled by a process-level factor such as a busy
shared machine gives one process and not another (lognormal, sigma 0.5: the +118% of two same-commit runs seen on
such a machine is inside it). No data that small can show a change at 95% (the exact rank-test bound), so no
seeded repetition may judge a regression.
"""

from __future__ import annotations

import math

import numpy as np

from bench.cli import main
from bench.compare.engine import compare_records
from bench.compare.stats import compare_samples, min_samples_for
from bench.results import append_record, read_results
from tests.conftest import REPO

EXAMPLE = REPO / "reports" / "example" / "default.jsonl"
REPETITIONS = 300


def _rerun(records, rng):
    out = []
    for record in records:
        factor = float(np.exp(rng.normal(0.0, 0.5)))
        samples = [s * factor for s in rng.permutation(record.timing.per_image_s)]
        timing = record.timing.model_copy(update={"per_image_s": samples, "call_s": samples})
        out.append(record.model_copy(update={"timing": timing}))
    return out


def test_the_exact_rank_bound_sets_the_minimum():
    assert min_samples_for(0.95) == 4 and 2 / math.comb(6, 3) >= 0.05 > 2 / math.comb(8, 4)
    assert min_samples_for(0.99) == 5


def test_same_commit_with_three_repeats_never_judges_a_regression(tmp_path, capsys):
    baseline = read_results([EXAMPLE])
    assert {len(r.timing.per_image_s) for r in baseline} == {3}
    rng = np.random.default_rng(20261207)
    regressions = 0
    for _ in range(REPETITIONS):
        report = compare_records(baseline, _rerun(baseline, rng))
        regressions += report.has_regression
        assert all("not judged: too few samples" in " ".join(r.notes) for r in report.runs)
    assert regressions == 0
    current = tmp_path / "current.jsonl"
    for record in _rerun(baseline, np.random.default_rng(1)):
        append_record(current, record)
    assert main(["compare", str(EXAMPLE), str(current)]) == 0  # notes are footnotes, never cut
    assert "not judged" in capsys.readouterr().out
    assert main(["compare", str(EXAMPLE), str(current), "--strict"]) == 1  # strict: cannot judge is a failure
    assert "--strict: 6 run(s) not judged for too few samples (at least 5 a side)" in capsys.readouterr().err


def test_pooled_processes_are_counted_as_processes():
    """Result files pooled on each side (two processes of three calls): six samples a side, two observations.

    Counted as samples, six a side would carry a verdict; the per-process rule of ``ab`` and ``history`` refuses
    it, and ``compare`` applies the same rule when a side pools several processes.
    """
    example = read_results([EXAMPLE])
    rng = np.random.default_rng(20261208)
    regressions = counting_samples = 0
    for _ in range(REPETITIONS):
        baseline = [*example, *_rerun(example, rng)]
        current = [*_rerun(example, rng), *_rerun(example, rng)]
        report = compare_records(baseline, current)
        regressions += report.has_regression
        for run in report.runs:
            assert (run.time.n_baseline, run.time.n_current) == (6, 6)
            assert (
                run.too_few_samples
                and "(2 and 2 processes; a 95% verdict over 6 runs needs at least 5" in (run.notes[-1])
            )
            flat = compare_samples(
                [s for r in baseline if r.run_key == run.run_key for s in r.timing.per_image_s],
                [s for r in current if r.run_key == run.run_key for s in r.timing.per_image_s],
                n_resamples=200,
            )
            counting_samples += flat.verdict == "regression"
    assert regressions == 0
    assert counting_samples > 0  # six calls a side judged as independent: false alarms

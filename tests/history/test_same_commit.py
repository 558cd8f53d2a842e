"""Identical code measured again never fails ``kbench history`` when too few observations carry a verdict.

Built from real recorded samples (the bundled example's six runs, three repeats each, measured on a 2-core CPU):
every later point is a run's own samples, shuffled and scaled by a process-level factor such as a busy shared
machine gives one process and not another (lognormal, sigma 0.5, as ``tests/test_compare_same_commit.py``).
Each point is labelled a commit of its own, as identical code after a change that does not touch it would be.
"""

from __future__ import annotations

import hashlib

import numpy as np

from bench.cli import main
from bench.history import build_history
from bench.results import RunRecord, append_record, read_results
from tests.conftest import REPO

EXAMPLE = REPO / "reports" / "example" / "default.jsonl"
REPETITIONS = 300
PROCESS_SIGMA = 0.5


def _point(records: list[RunRecord], index: int, rng: np.random.Generator | None) -> list[RunRecord]:
    """The example's runs as commit ``index``: its own samples, or (with ``rng``) a process-level rerun of them."""
    out = []
    for record in records:
        samples = list(record.timing.per_image_s)
        if rng is not None:
            factor = float(np.exp(rng.normal(0.0, PROCESS_SIGMA)))
            samples = [s * factor for s in rng.permutation(samples)]
        timing = record.timing.model_copy(update={"per_image_s": samples, "call_s": samples})
        commit = hashlib.sha1(str(index).encode()).hexdigest()
        started = f"2026-12-{1 + index:02d}T{record.started_at[11:]}"
        out.append(record.model_copy(update={"timing": timing, "env": {"git_commit": commit}, "started_at": started}))
    return out


def test_the_same_code_twice_never_fails_the_history(tmp_path, capsys):
    """Two points (the recorded run and a rerun), every verdict asked for: 3 and 3 samples, never judged."""
    example = read_results([EXAMPLE])
    rng = np.random.default_rng(20261207)
    failures = 0
    for _ in range(REPETITIONS):
        report = build_history([*_point(example, 0, None), *_point(example, 1, rng)], min_size=1, baseline_last=1)
        failures += report.has_regression
        assert all(s.rolling is not None and s.rolling.too_few_samples for s in report.series)
    assert failures == 0
    path = tmp_path / "two.jsonl"
    for record in [*_point(example, 0, None), *_point(example, 1, np.random.default_rng(3))]:
        append_record(path, record)
    args = ["history", str(path), "--min-points", "1", "--fail-on-new-step", "--baseline", "last:1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--strict"]) == 1
    assert (
        "--strict: 6 series not judged for too few points or processes (at least 4 a side)" in capsys.readouterr().err
    )


def test_four_commits_of_the_same_code_find_steps_but_never_judge_one():
    """One point a segment allowed: the newest "step" of pure process noise was a failure before the rule."""
    example = read_results([EXAMPLE])
    rng = np.random.default_rng(29)
    found = failures = 0
    for _ in range(REPETITIONS):
        records = [r for i in range(4) for r in _point(example, i, rng if i else None)]
        report = build_history(records, min_size=1, baseline_last=3)
        for series in report.series:
            if series.newest_change == "slower":  # what --fail-on-new-step failed on before
                found += 1
                assert series.step_not_judged is not None and "points; a 95% verdict needs at least 4" in (
                    series.step_not_judged
                )
            assert series.rolling is not None and series.rolling.too_few_samples  # 3 processes and 1
        failures += report.has_regression
    assert failures == 0
    assert found > REPETITIONS // 10  # 86 series in 74 of the 300 jobs failed before the rule: none now

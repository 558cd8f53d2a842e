"""``kbench ab`` of one commit against itself never fails when too few processes carry a verdict.

Built from real recorded samples (the bundled example's six runs, three repeats each, measured on a 2-core CPU):
each process of a side is a run's own samples, shuffled and scaled by a process-level factor such as a busy
shared machine gives one process and not another (lognormal, sigma 0.5, as ``tests/test_compare_same_commit.py``).
The grouped interval resamples processes, so with three rounds (three processes a side) the calls are not the
observations: counted as such, 28 of the 100 three-round jobs here were called a regression; counted as
processes, none is judged.
"""

from __future__ import annotations

import numpy as np

from bench.ab import ab_report
from bench.ab.report import judge_processes
from bench.cli import main
from bench.compare.engine import CompareReport, compare_records
from bench.results import RunRecord, append_record, read_results
from tests.conftest import REPO

EXAMPLE = REPO / "reports" / "example" / "default.jsonl"
REPETITIONS = 300
PROCESS_SIGMA = 0.5
RESAMPLES = 50  # whether a run is judged does not depend on the bootstrap; a short one keeps the loop fast


def _job(
    records: list[RunRecord], rounds: int, rng: np.random.Generator, slower: float = 1.0, sigma: float = PROCESS_SIGMA
) -> list[RunRecord]:
    """An A/B results file of one commit against itself (or a head ``slower`` times slower), ABBA order."""
    out = []
    for rnd in range(1, rounds + 1):
        for side in ("base", "head") if rnd % 2 else ("head", "base"):
            for record in records:
                factor = float(np.exp(rng.normal(0.0, sigma))) * (slower if side == "head" else 1.0)
                samples = [s * factor for s in rng.permutation(record.timing.per_image_s)]
                timing = record.timing.model_copy(update={"per_image_s": samples, "call_s": samples})
                out.append(record.model_copy(update={"timing": timing, "side": side, "ab_round": rnd}))
    return out


def _judged(job: list[RunRecord]) -> CompareReport:
    return _compared(job)[1]


def _compared(job: list[RunRecord]) -> tuple[CompareReport, CompareReport]:
    """The comparison counting calls (the engine's) and the one counting processes (``kbench ab``'s)."""
    base = [r for r in job if r.side == "base"]
    head = [r for r in job if r.side == "head"]
    calls = compare_records(base, head, n_resamples=RESAMPLES)
    return calls, judge_processes(calls, base, head)


def test_one_commit_against_itself_never_judges_a_regression(tmp_path, capsys):
    example = read_results([EXAMPLE])
    rng = np.random.default_rng(20261207)
    failures, counting_calls = {1: 0, 3: 0}, 0
    for rounds in failures:  # one run a side (the same commit run twice), and three rounds
        for _ in range(REPETITIONS if rounds == 1 else REPETITIONS // 3):
            calls, report = _compared(_job(example, rounds, rng))
            counting_calls += calls.has_regression
            failures[rounds] += report.has_regression
            assert all("not judged: too few samples" in " ".join(r.notes) for r in report.runs)
            assert len(report.not_judged) == len(example)
    assert failures == {1: 0, 3: 0}
    assert counting_calls > 0  # the same jobs judged on 9 calls a side: false alarms
    results = tmp_path / "aa.jsonl"
    for record in _job(example, 3, np.random.default_rng(1)):
        append_record(results, record)
    assert main(["ab", "--recompare", str(results)]) == 0
    assert "not judged" in capsys.readouterr().out
    assert main(["ab", "--recompare", str(results), "--strict"]) == 1
    assert "--strict: 6 run(s) not judged for too few processes or samples (at least 4 a side)" in (
        capsys.readouterr().err
    )


def test_four_rounds_carry_a_verdict_on_a_clear_slowdown():
    """At the default rounds a head twice as slow is judged a regression through a 15% process spread."""
    example = read_results([EXAMPLE])[:2]
    rng = np.random.default_rng(4)
    for _ in range(10):
        report = _judged(_job(example, 4, rng, slower=2.0, sigma=0.15))
        assert not report.not_judged
        assert len(report.regressions) == len(example)


def test_ab_report_counts_processes():
    example = read_results([EXAMPLE])[:1]
    report = ab_report(_job(example, 3, np.random.default_rng(2)))
    (run,) = report.compare.runs
    assert run.verdict == "inconclusive" and run.too_few_samples and run.time.n_baseline == 9
    assert run.notes[-1] == (
        "not judged: too few samples (3 and 3 processes; a 95% verdict needs at least 4 a side): use --rounds 4 or more"
    )

"""``kbench ab`` of one commit against itself: no verdict from too few processes, and few false alarms from enough.

Built from real recorded samples (the bundled example's six runs, three repeats each, measured on a 2-core CPU):
each process of a side is a run's own samples, shuffled and scaled by a process-level factor such as a busy
shared machine gives one process and not another (lognormal, sigma 0.5, as ``tests/test_compare_same_commit.py``).

* With three rounds the processes are three observations a side: counted as calls (9 a side), 28 of 100 such
  jobs were called a regression; counted as processes, none is judged.
* From the rounds that carry a verdict on, the rank test on the processes' medians, at the Bonferroni level of
  the runs judged together, bounds the chance that an unchanged job fails by ``(1 - confidence) / 2``: 2.5% at
  95%. Before, the two-level bootstrap with 4 processes a side and six runs tested each at 95% failed 5-13 of
  100 such jobs.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from bench.ab import ab_report
from bench.cli import main
from bench.compare.engine import CompareReport, compare_records
from bench.compare.stats import CONFIDENCE, compare_samples, min_samples_for
from bench.compare.thresholds import build_thresholds
from bench.results import RunRecord, append_record, read_results
from tests.conftest import REPO

EXAMPLE = REPO / "reports" / "example" / "default.jsonl"
REPETITIONS = 300
PROCESS_SIGMA = 0.5
FALSE_ALARM_JOBS = 400  # in process, no bootstrap on processes: about a millisecond a job
LEVEL = (1 - CONFIDENCE) / 2  # the stated bound: an unchanged job fails at most this often


def _job(
    records: list[RunRecord],
    rounds: int,
    rng: np.random.Generator,
    slower: float = 1.0,
    sigma: float = PROCESS_SIGMA,
    extra_s: float = 0.0,
) -> list[RunRecord]:
    """An A/B results file of one commit against itself (or a head ``slower`` times slower), ABBA order.

    ``extra_s`` is added to each head call after the process factor: time that the machine's load does not
    scale (``tests/ab/test_ab.py``'s head sleeps half a second per call).
    """
    out = []
    for rnd in range(1, rounds + 1):
        for side in ("base", "head") if rnd % 2 else ("head", "base"):
            for record in records:
                factor = float(np.exp(rng.normal(0.0, sigma))) * (slower if side == "head" else 1.0)
                extra = extra_s if side == "head" else 0.0
                samples = [s * factor + extra for s in rng.permutation(record.timing.per_image_s)]
                timing = record.timing.model_copy(update={"per_image_s": samples, "call_s": samples})
                out.append(record.model_copy(update={"timing": timing, "side": side, "ab_round": rnd}))
    return out


def _sides(job: list[RunRecord]) -> tuple[list[RunRecord], list[RunRecord]]:
    return [r for r in job if r.side == "base"], [r for r in job if r.side == "head"]


def _judged(job: list[RunRecord], rules: list[str] = ()) -> CompareReport:
    return ab_report(job, build_thresholds(rules)).compare


def _calls_regress(job: list[RunRecord]) -> bool:
    """Whether any run would be a regression with every call taken as an independent observation."""
    base, head = _sides(job)
    keys = {r.run_key for r in base}
    return any(
        compare_samples(
            [s for r in base if r.run_key == k for s in r.timing.per_image_s],
            [s for r in head if r.run_key == k for s in r.timing.per_image_s],
            n_resamples=200,
        ).verdict
        == "regression"
        for k in keys
    )


def _most_allowed(jobs: int) -> int:
    """The most false alarms in ``jobs`` that a true rate of :data:`LEVEL` gives but once in a thousand."""
    return int(binom.ppf(0.999, jobs, LEVEL))


def test_one_commit_against_itself_never_judges_a_regression(tmp_path, capsys):
    example = read_results([EXAMPLE])
    rng = np.random.default_rng(20261207)
    failures, counting_calls = {1: 0, 3: 0}, 0
    for rounds in failures:  # one run a side (the same commit run twice), and three rounds
        for _ in range(REPETITIONS if rounds == 1 else REPETITIONS // 3):
            job = _job(example, rounds, rng)
            report = _judged(job)
            failures[rounds] += report.has_regression
            if rounds == 3:
                counting_calls += _calls_regress(job)
            assert all("not judged: too few samples" in " ".join(r.notes) for r in report.runs)
            assert len(report.not_judged) == len(example)
    assert failures == {1: 0, 3: 0}
    assert counting_calls > 0  # the same jobs judged on 9 calls a side: false alarms
    results = tmp_path / "aa.jsonl"
    for record in _job(example, 3, np.random.default_rng(1)):
        append_record(results, record)
    assert main(["ab", "--recompare", str(results)]) == 0  # notes are footnotes, never cut
    assert "not judged" in capsys.readouterr().out
    assert main(["ab", "--recompare", str(results), "--strict"]) == 1
    assert "--strict: 6 run(s) not judged" in capsys.readouterr().err


def test_unchanged_jobs_judged_from_enough_rounds_fail_at_most_at_the_stated_level():
    """Hundreds of seeded A/A jobs at the fewest rounds that carry a verdict: false alarms within the bound."""
    example = read_results([EXAMPLE])
    allowed = _most_allowed(FALSE_ALARM_JOBS)
    for runs, sigma in ((example, PROCESS_SIGMA), (example[:1], PROCESS_SIGMA)):
        rounds = min_samples_for(CONFIDENCE, len(runs))  # 5 for six runs, 4 for one
        rng = np.random.default_rng(len(runs) * 1000 + int(sigma * 10))
        alarms = uncorrected = 0
        for _ in range(FALSE_ALARM_JOBS):
            job = _job(runs, rounds, rng, sigma=sigma)
            report = _judged(job)
            assert not report.not_judged
            alarms += report.has_regression
            if len(runs) > 1:  # each run tested at 95% on its own, as before
                uncorrected += compare_records(*_sides(job), family=1).has_regression
        assert alarms <= allowed, (len(runs), sigma, alarms)
        if len(runs) > 1:
            assert uncorrected > allowed  # six runs each at 95%: the job fails on noise more often than stated
    # four rounds cannot carry a 95% verdict over six runs: each is not judged rather than judged loosely
    report = _judged(_job(example, 4, np.random.default_rng(3)))
    assert len(report.not_judged) == len(example) and not report.has_regression
    assert report.runs[0].notes[-1] == (
        "not judged: too few samples (4 and 4 processes; a 95% verdict over 6 runs needs at least 5 a side): "
        "use --rounds 5 or more"
    )


def test_the_fewest_rounds_flag_a_real_slowdown():
    """Detections of a real slowdown at the fewest rounds that carry a verdict, over seeded jobs.

    ``tests/ab/test_ab.py``'s head (three times the work plus half a second a call, threshold 50%), one run at
    4 rounds through a process spread of sigma 0.5: all but a few jobs in a thousand (6 of 2000 seeded), where a
    base process drew a factor of about 4 (2.8 sigma) while a head process drew a fast one. A head twice as slow at the
    default threshold, six runs judged together at 5 rounds through sigma 0.15: all but a few percent of the
    runs (all five head processes must be slower than all five base ones; each pair is about 3 standard
    deviations apart).
    """
    example = read_results([EXAMPLE])
    rng = np.random.default_rng(4)
    sleepy = sum(
        _judged(_job(example[:1], 4, rng, slower=3.0, extra_s=0.5), ["median:50%"]).has_regression for _ in range(200)
    )
    assert sleepy >= 0.98 * 200
    twice = sum(len(_judged(_job(example, 5, rng, slower=2.0, sigma=0.15)).regressions) for _ in range(50))
    assert twice >= 0.9 * 50 * len(example)


def test_ab_report_counts_processes():
    example = read_results([EXAMPLE])[:1]
    report = ab_report(_job(example, 3, np.random.default_rng(2)))
    (run,) = report.compare.runs
    assert run.verdict == "inconclusive" and run.too_few_samples and run.time.n_baseline == 9
    assert run.notes[-1] == (
        "not judged: too few samples (3 and 3 processes; a 95% verdict needs at least 4 a side): use --rounds 4 or more"
    )

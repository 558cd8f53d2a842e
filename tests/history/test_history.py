"""``kbench history``: steps in synthetic series with the noise measured on real runs, and the CLI around them.

The noise is the per-call coefficient of variation the harness benchmark measures for the tiny CPU run (5%,
docs/benchmarks.md); between-process drift of busy runners is larger, so the series here also carry 5%
lognormal noise per point. Seeds are fixed: each assertion is about a property over many seeded series, not
about one lucky draw.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from bench.cli import main
from bench.history import build_history, detect_segments, parse_baseline
from bench.history.series import HistoryError
from bench.results import RunRecord, Timing, append_record
from bench.spec import RunSpec

MEASURED_CV = 0.05
SERIES = 30  # seeded series per property
POINTS = 40


def _series(seed: int, *, step_at: int | None = None, step: float = 1.0, n: int = POINTS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = 0.2 * np.exp(rng.normal(0.0, MEASURED_CV, n))
    if step_at is not None:
        values[step_at:] *= step
    return values


def test_noise_of_the_measured_size_makes_no_step():
    false_steps = sum(len(detect_segments(_series(seed))[0]) > 1 for seed in range(SERIES))
    assert false_steps <= 1  # PELT with the penalty from the measured noise, plus the 5% minimum effect


def test_an_injected_step_is_found_where_it_is():
    found, sigmas = 0, []
    for seed in range(SERIES):
        segments, sigma = detect_segments(_series(seed, step_at=24, step=1.25))
        sigmas.append(sigma)
        if len(segments) == 2 and abs(segments[1].start - 24) <= 1:  # a noisy edge may move by one point
            found += 1
            assert segments[1].median_s / segments[0].median_s == pytest.approx(1.25, rel=0.08)
    assert found >= SERIES - 2  # about 98% over 300 seeded series
    assert float(np.median(sigmas)) == pytest.approx(MEASURED_CV, rel=0.2)  # the noise the penalty was set from


def test_a_step_below_the_minimum_effect_is_merged_and_a_lone_outlier_is_no_step():
    quiet = 0.2 * np.exp(np.random.default_rng(7).normal(0.0, 0.005, POINTS))
    small = quiet.copy()
    small[20:] *= 1.03  # real (the noise is 0.5%) but smaller than --min-effect 5%
    assert len(detect_segments(small)[0]) == 1
    assert len(detect_segments(small, min_effect=0.01)[0]) == 2
    spike = quiet.copy()
    spike[15] *= 1.6  # one bad job: a single point, not a level change
    assert len(detect_segments(spike)[0]) == 1


SPEC = RunSpec(scenario="h", model="kandinsky-2.2", task="text2img", weights="tiny", width=64, height=64, steps=2,
               guidance_scale=4.0, dtype="fp32", device="cpu")  # fmt: skip


def _commit(i: int) -> str:
    return hashlib.sha1(str(i).encode()).hexdigest()


def _records(values: np.ndarray, seed: int = 0) -> list[RunRecord]:
    """One record per commit, each with 5 calls around the point's level."""
    rng = np.random.default_rng(seed)
    out = []
    for i, level in enumerate(values):
        calls = [float(x) for x in level * np.exp(rng.normal(0.0, 0.02, 5))]
        out.append(
            RunRecord(
                run_key=SPEC.run_key,
                spec=SPEC,
                status="ok",
                timing=Timing(load_s=1.0, first_image_s=2.0, call_s=calls, per_image_s=calls),
                env={"git_commit": _commit(i)},
                started_at=f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00",
                finished_at=f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:05:00+00:00",
                kbench_version="0.1.0",
            )
        )
    return out


def _write(path, records):
    for r in records:
        append_record(path, r)
    return path


def test_history_orders_by_time_and_groups_by_commit():
    records = _records(_series(3, n=12))
    shuffled = [*records[::-1], records[4].model_copy(update={"started_at": "2026-02-01T00:00:00+00:00"})]
    report = build_history(shuffled)
    (series,) = report.series
    assert [p.commit for p in series.points] == [_commit(i) for i in range(12)]
    assert series.points[4].n_samples == 10  # the later re-run of commit 4 is pooled with it


def test_cli_fails_on_a_new_slower_segment_plots_and_summarises(tmp_path, capsys):
    slow = _write(tmp_path / "slow.jsonl", _records(_series(11, step_at=34, step=1.3), seed=1))
    plot, summary = tmp_path / "h.svg", tmp_path / "h.md"
    code = main(["history", str(slow), "--fail-on-new-step", "--plot", str(plot), "--summary", str(summary)])
    captured = capsys.readouterr()
    assert code == 1 and "slower" in captured.err
    assert plot.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### kbench history: FAIL") and "**slower**" in text
    change = float(re.search(rf"{_commit(34)[:10]}: \+([0-9.]+)%", text).group(1))
    assert 20 < change < 45  # the injected +30%, seen through 5% noise
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    flat = _write(tmp_path / "flat.jsonl", _records(_series(12), seed=2))
    assert main(["history", str(flat), "--fail-on-new-step"]) == 0


def test_rolling_baseline_compares_the_newest_point_with_the_ones_before(tmp_path, capsys):
    values = _series(5, n=15)
    values[-1] *= 1.5  # one new point, far slower: too short for a segment, caught by the rolling baseline
    records = _records(values, seed=3)
    # the newest commit measured by four processes: enough for the grouped comparison to carry a verdict
    again = [records[-1].model_copy(update={"timing": _records(values[-1:], seed=s)[0].timing}) for s in (4, 5, 6)]
    path = _write(tmp_path / "r.jsonl", [*records, *again])
    assert main(["history", str(path), "--fail-on-new-step"]) == 0
    assert main(["history", str(path), "--baseline", "last:5"]) == 1
    capsys.readouterr()
    one = _write(tmp_path / "one.jsonl", records)  # one process of the newest commit: nothing tells code from load
    assert main(["history", str(one), "--baseline", "last:5"]) == 0
    (series,) = build_history(records, baseline_last=5).series
    assert series.rolling.verdict == "inconclusive" and series.rolling.too_few_samples
    assert "not judged: too few samples (5 and 1 processes" in series.rolling.notes[-1]
    assert main(["history", str(one), "--baseline", "last:5", "--strict"]) == 1
    assert "--strict: 1 series not judged" in capsys.readouterr().err
    assert parse_baseline("last:5") == 5
    with pytest.raises(HistoryError):
        parse_baseline("first:3")
    assert main(["history", str(path), "--baseline", "last:0"]) == 2
    assert "last:N" in capsys.readouterr().err


def test_the_summary_says_when_a_step_was_found_but_not_judged():
    """A step in the last two points is found (``--min-points 2``) but has too few points after it to judge."""
    from bench.report.summary_md import render_history_summary

    values = _series(13)
    values[-2:] *= 1.6
    report = build_history(_records(values, seed=4), baseline_last=5)
    (series,) = report.series
    assert series.newest_change == "slower" and not series.new_regression and not report.has_regression
    text = render_history_summary(report)
    assert f"| slower: found, not judged ({POINTS - 2} and 2 points, need 4 a side) |" in text
    assert "| not judged (5 and 1 processes, need 4 a side) +" in text  # the rolling baseline: one process
    assert text.startswith("### kbench history: PASS — 0 new step(s) slower, 0 slower than the rolling baseline (1 ")

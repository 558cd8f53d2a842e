from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.compare.calibration import detection_rate, false_alarm_rate, lognormal_samples, smallest_detected_slowdown
from bench.compare.engine import EnvironmentMismatch, NothingToCompare, compare_records
from bench.compare.stats import compare_samples, mann_whitney_p
from bench.compare.thresholds import build_thresholds
from bench.report.compare_render import render_compare_markdown as render_markdown
from bench.report.compare_render import report_to_dict
from bench.results import EnergyStats, ErrorInfo, MemoryStats, RunRecord, Timing, append_record
from bench.spec import RunSpec
from tests.conftest import run_kbench

A100 = {"gpu_name": "NVIDIA A100-SXM4-80GB", "driver_version": "550.54.15", "torch_version": "2.5.1"}
H100 = {"gpu_name": "NVIDIA H100 80GB HBM3", "driver_version": "550.54.15", "torch_version": "2.5.1"}


def make_spec(*, model: str = "kandinsky-2.2", steps: int = 30, dtype: str = "fp16", weights: str = "random",
              scenario: str = "k22-768", width: int = 768) -> RunSpec:  # fmt: skip
    return RunSpec(
        scenario=scenario,
        model=model,
        task="text2img",
        weights=weights,
        width=width,
        height=width,
        steps=steps,
        guidance_scale=4.0,
        dtype=dtype,
        device="cuda",
        repeats=10,
        max_repeats=10,
    )


def make_record(
    per_image_s: list[float] | np.ndarray | None = None,
    *,
    status: str = "ok",
    spec: RunSpec | None = None,
    env: dict | None = None,
    vram_mb: float | None = None,
    rss_mb: float | None = None,
    energy_j: float | None = None,
    reason: str | None = None,
) -> RunRecord:
    spec = spec or make_spec()
    ok = status == "ok"
    samples = [float(x) for x in per_image_s] if per_image_s is not None else []
    return RunRecord(
        run_key=spec.run_key,
        spec=spec,
        status=status,
        reason=reason,
        error=ErrorInfo(type="OutOfMemoryError", message=reason or "CUDA out of memory") if status == "oom" else None,
        timing=Timing(load_s=5.0, first_image_s=9.0, call_s=samples, per_image_s=samples) if ok else None,
        memory=MemoryStats(vram_used_peak_mb=vram_mb, peak_rss_mb=rss_mb) if ok else MemoryStats(),
        energy=EnergyStats(energy_j_per_image=energy_j, method="counter" if energy_j else None),
        env=dict(A100 if env is None else env),
        started_at="2025-01-01T00:00:00+00:00",
        finished_at="2025-01-01T00:05:00+00:00",
        kbench_version="0.1.0",
    )


def noisy(seed: int, *, n: int = 10, cv: float = 0.03, median_s: float = 2.0) -> np.ndarray:
    return lognormal_samples(np.random.default_rng(seed), n, cv, median_s)


# --- statistics on samples ------------------------------------------------------------------------


def test_mann_whitney_matches_hand_computation():
    # U = 0, mean 12.5, variance 5*5*11/12 = 22.9167; z = (12.5 - 0.5) / 4.7871 = 2.5067 -> p = 0.012186
    p = mann_whitney_p(np.array([1.0, 2, 3, 4, 5]), np.array([6.0, 7, 8, 9, 10]))
    assert p == pytest.approx(0.012186, abs=1e-5)
    # Identical samples: every value tied, U at its mean -> p = 1.
    assert mann_whitney_p(np.array([1.0, 1, 1]), np.array([1.0, 1, 1])) == 1.0


def test_few_samples_use_the_full_range():
    t = compare_samples([1.0, 1.05, 1.1, 1.08], [1.3, 1.35, 1.4, 1.33])
    assert t.method == "range"
    assert t.ratio == pytest.approx(1.34 / 1.065)
    assert (t.ci_low, t.ci_high) == (pytest.approx(1.3 / 1.1), pytest.approx(1.4 / 1.0))
    assert t.verdict == "regression"  # even the most favourable pairing is 18% slower
    overlap = compare_samples([1.0, 1.1, 1.3, 1.2], [1.2, 1.3, 1.4, 1.35])
    assert overlap.verdict == "inconclusive"  # past the threshold, range [-8%, +40%]
    assert (overlap.ci_low, overlap.ci_high) == (pytest.approx(1.2 / 1.3), pytest.approx(1.4))


def test_fewer_than_four_samples_are_never_judged():
    # Separated by 30%, but with three samples a side no data can be significant at 95% (2 / C(6, 3) = 0.10).
    assert compare_samples([1.0, 1.05, 1.1], [1.3, 1.35, 1.4]).verdict == "inconclusive"
    assert compare_samples([1.0, 1.01], [1.3, 1.31]).verdict == "inconclusive"
    assert compare_samples([1.0], [1.01]).verdict == "inconclusive"  # not "unchanged" either: not judged
    report = compare_records([make_record([1.0, 1.01, 1.02])], [make_record([1.3, 1.31, 1.32])])
    assert not report.has_regression
    assert any("not judged: too few samples (3 and 3" in n for n in report.runs[0].notes)


def test_bootstrap_is_deterministic_and_brackets_the_ratio():
    base, cur = noisy(1), noisy(2, median_s=2.4)
    a, b = compare_samples(base, cur), compare_samples(base, cur)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert a.method == "bootstrap"
    assert a.ci_low <= a.ratio <= a.ci_high
    assert a.ratio == pytest.approx(np.median(cur) / np.median(base))


@pytest.mark.parametrize("cv", [0.02, 0.03, 0.05])
def test_aa_comparisons_never_alarm(cv):
    verdicts = [compare_samples(noisy(2 * s, cv=cv), noisy(2 * s + 1, cv=cv)).verdict for s in range(150)]
    assert "regression" not in verdicts
    assert "improvement" not in verdicts


def test_aa_with_an_outlier_does_not_alarm():
    for seed in range(30):
        cur = noisy(seed + 1000)
        cur[3] *= 1.4  # one call hit a background job
        assert compare_samples(noisy(seed), cur).verdict == "unchanged"


def test_twenty_percent_slowdown_is_flagged():
    for seed in range(50):
        t = compare_samples(noisy(2 * seed), noisy(2 * seed + 1, median_s=2.4))
        assert t.verdict == "regression", (seed, t)
        assert t.ci_low > 1.05


def test_twenty_percent_speedup_is_an_improvement():
    for seed in range(50):
        assert compare_samples(noisy(2 * seed), noisy(2 * seed + 1, median_s=1.6)).verdict == "improvement"


def test_threshold_off_never_flags():
    assert compare_samples(noisy(1), noisy(2, median_s=4.0), build_thresholds(["median:off"]).rules[-1]).verdict == (
        "unchecked"
    )


def test_calibration_functions():
    assert false_alarm_rate(trials=300) == 0.0
    assert detection_rate(0.20, trials=100) == 1.0
    # Without a size threshold the rule is a plain 95% two-sided test: about 2.5% one-sided false alarms.
    assert 0.0 < detection_rate(0.0, threshold=0.0, trials=400) < 0.06
    smallest = smallest_detected_slowdown(trials=100, step=0.02)
    assert 0.06 <= smallest <= 0.20
    assert smallest_detected_slowdown(trials=20, max_slowdown=0.04, step=0.02) == math.inf


# --- records --------------------------------------------------------------------------------------


def test_aa_records_pass_and_slowdown_fails():
    base = [make_record(noisy(1), vram_mb=9000.0)]
    same = compare_records(base, [make_record(noisy(2), vram_mb=9010.0)])
    assert not same.has_regression
    assert same.runs[0].verdict == "unchanged"
    slow = compare_records(base, [make_record(noisy(3, median_s=2.4), vram_mb=9000.0)])
    assert slow.has_regression
    assert slow.runs[0].time is not None and slow.runs[0].time.verdict == "regression"


def test_vram_growth_beyond_margin_is_a_regression():
    base = [make_record(noisy(1), vram_mb=9000.0)]
    grew = compare_records(base, [make_record(noisy(2), vram_mb=9100.0)])  # +100 MB > 64 MB default
    assert grew.has_regression
    (vram,) = [v for v in grew.runs[0].values if v.field == "vram_used_peak_mb"]
    assert (vram.verdict, vram.delta) == ("regression", 100.0)
    within = compare_records(base, [make_record(noisy(2), vram_mb=9050.0)])
    assert not within.has_regression
    # 9250 / 9000 = +2.8%: within vram:3%, beyond vram:2%
    pct3 = compare_records(base, [make_record(noisy(2), vram_mb=9250.0)], build_thresholds(["vram:3%"]))
    pct2 = compare_records(base, [make_record(noisy(2), vram_mb=9250.0)], build_thresholds(["vram:2%"]))
    assert (pct3.has_regression, pct2.has_regression) == (False, True)


def test_energy_compared_when_both_sides_have_it():
    base = [make_record(noisy(1), energy_j=100.0)]
    worse = compare_records(base, [make_record(noisy(2), energy_j=110.0)])
    assert worse.has_regression
    assert [v.field for v in worse.runs[0].values] == ["energy_j_per_image"]
    one_sided = compare_records(base, [make_record(noisy(2))])
    assert one_sided.runs[0].values == ()


def test_ok_to_oom_is_a_regression_and_oom_to_ok_an_improvement():
    base = [make_record(noisy(1))]
    oom = compare_records(base, [make_record(status="oom", reason="CUDA out of memory. Tried 2.00 GiB")])
    run = oom.runs[0]
    assert (run.outcome, run.is_regression, run.current_status) == ("newly_failed", True, "oom")
    assert any("Tried 2.00 GiB" in n for n in run.notes)
    fixed = compare_records([make_record(status="oom")], [make_record(noisy(1))])
    assert fixed.runs[0].outcome == "fixed" and fixed.runs[0].is_improvement and not fixed.has_regression
    still = compare_records([make_record(status="timeout")], [make_record(status="oom")])
    assert still.runs[0].outcome == "still_failing" and not still.has_regression


def test_runs_on_one_side_are_reported_not_failed():
    k3 = make_spec(model="kandinsky-3", scenario="k3-1024", width=1024, steps=25)
    k21 = make_spec(model="kandinsky-2.1", scenario="k21")
    report = compare_records([make_record(noisy(1)), make_record(noisy(2), spec=k3)],
                             [make_record(noisy(3)), make_record(noisy(4), spec=k21)])  # fmt: skip
    outcomes = {r.run_key: r.outcome for r in report.runs}
    assert outcomes == {make_spec().run_key: "compared", k3.run_key: "only_baseline", k21.run_key: "only_current"}
    assert not report.has_regression
    assert "1 only in baseline" in render_markdown(report) and "1 new" in render_markdown(report)


def test_different_gpu_refused_unless_allowed():
    base, cur = [make_record(noisy(1), env=A100)], [make_record(noisy(2), env=H100)]
    with pytest.raises(EnvironmentMismatch, match=r"different GPU.*A100.*H100.*--allow-env-mismatch") as err:
        compare_records(base, cur)
    assert err.value.exit_code == 2
    report = compare_records(base, cur, allow_env_mismatch=True)
    assert [(c.field, c.blocking) for c in report.env_changes] == [("GPU", True)]


def test_version_differences_are_shown_not_refused():
    newer = {**A100, "torch_version": "2.6.0", "driver_version": "560.28.03"}
    report = compare_records([make_record(noisy(1))], [make_record(noisy(2), env=newer)])
    assert {str(c) for c in report.env_changes} == {"driver: 550.54.15 -> 560.28.03", "torch: 2.5.1 -> 2.6.0"}
    assert "torch" in render_markdown(report)
    unknown = compare_records([make_record(noisy(1), env={})], [make_record(noisy(2))])
    assert not any(c.blocking for c in unknown.env_changes)  # an unknown GPU is shown, not refused


def test_dtype_change_is_paired_and_shown():
    base = [make_record(noisy(1), spec=make_spec(dtype="fp16"))]
    cur = [make_record(noisy(2, median_s=2.6), spec=make_spec(dtype="bf16"))]
    report = compare_records(base, cur)
    (run,) = report.runs
    assert run.baseline_key == make_spec(dtype="fp16").run_key and run.run_key == make_spec(dtype="bf16").run_key
    assert [str(c) for c in run.env_changes] == ["dtype: fp16 -> bf16"]
    assert run.is_regression


def test_weight_source_change_refused():
    base = [make_record(noisy(1), spec=make_spec(weights="random"))]
    cur = [make_record(noisy(2), spec=make_spec(weights="hub"))]
    with pytest.raises(EnvironmentMismatch, match="different weights: baseline 'random', current 'hub'"):
        compare_records(base, cur)


def test_nothing_to_compare():
    with pytest.raises(NothingToCompare, match="current results contain no runs"):
        compare_records([make_record(noisy(1))], [])
    other = make_spec(model="kandinsky-3", scenario="k3", width=1024)
    with pytest.raises(NothingToCompare, match="no run is in both"):
        compare_records([make_record(noisy(1))], [make_record(noisy(1), spec=other)])


def test_repeated_runs_pool_their_samples():
    base = [make_record(noisy(1, n=5)), make_record(noisy(2, n=5))]
    report = compare_records(base, [make_record(noisy(3, n=7))])
    assert report.runs[0].time is not None
    assert (report.runs[0].time.n_baseline, report.runs[0].time.n_current) == (10, 7)


def test_per_scenario_threshold():
    base = [make_record(noisy(1, n=20, cv=0.01))]
    cur = [make_record(noisy(2, n=20, cv=0.01, median_s=2.14))]  # +7%
    assert compare_records(base, cur).has_regression
    assert not compare_records(base, cur, build_thresholds(["k22-768:median:10%"])).has_regression
    assert compare_records(base, cur, build_thresholds(["k3-*:median:10%"])).has_regression


def test_markdown_escapes_and_json_is_plain_data():
    spec = make_spec(scenario="evil|<script>")
    report = compare_records([make_record(noisy(1), spec=spec)], [make_record(noisy(2, median_s=3.0), spec=spec)])
    md = render_markdown(report)
    assert md.startswith("## kbench compare: FAIL")
    assert "**REGRESSION**" in md
    assert "kandinsky-2.2\\|text2img\\|768x768" in md  # a run key's pipes do not break the table
    row = next(line for line in md.splitlines() if "REGRESSION" in line)
    assert row.count(" | ") == 5  # six cells
    data = json.loads(json.dumps(report_to_dict(report)))
    assert data["regression"] is True
    assert data["runs"][0]["time"]["verdict"] == "regression"
    assert data["runs"][0]["scenario"] == "evil|<script>"


# --- the CLI, as a real subprocess on real files --------------------------------------------------


def _write(path, records):
    for r in records:
        append_record(path, r)
    return path


def test_cli_exit_codes_and_outputs(tmp_path):
    base = _write(tmp_path / "base.jsonl", [make_record(noisy(1), vram_mb=9000.0)])
    same = _write(tmp_path / "same.jsonl", [make_record(noisy(2), vram_mb=9000.0)])
    slow = _write(tmp_path / "slow.jsonl", [make_record(noisy(3, median_s=2.5), vram_mb=9000.0)])
    md, js = tmp_path / "out" / "summary.md", tmp_path / "out" / "compare.json"

    ok = run_kbench("compare", str(base), str(same), "--markdown-out", str(md), "--json-out", str(js), timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "0 regression(s)" in ok.stdout
    assert md.read_text().startswith("## kbench compare: PASS")
    assert json.loads(js.read_text())["regression"] is False

    bad = run_kbench("compare", str(base), str(slow), "--markdown-out", str(md), "--json-out", str(js), timeout=120)
    assert bad.returncode == 1, bad.stderr
    assert bad.stderr.strip().startswith("kbench: error: 1 regression(s): kandinsky-2.2|text2img")
    assert "FAIL" in md.read_text()
    assert json.loads(js.read_text())["runs"][0]["verdict"] == "regression"

    relaxed = run_kbench("compare", str(base), str(slow), "-t", "median:30%", timeout=120)
    assert relaxed.returncode == 0, relaxed.stderr


def test_cli_bad_input_exits_2(tmp_path):
    base = _write(tmp_path / "base.jsonl", [make_record(noisy(1))])
    h100 = _write(tmp_path / "h100.jsonl", [make_record(noisy(2), env=H100)])
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text('{"schema_version": 99}\n', encoding="utf-8")

    missing = run_kbench("compare", str(base), str(tmp_path / "nope.jsonl"), timeout=120)
    assert (missing.returncode, "cannot read results file" in missing.stderr) == (2, True)
    newer = run_kbench("compare", str(base), str(corrupt), timeout=120)
    assert newer.returncode == 2 and "schema_version: 99 is newer" in newer.stderr
    gpu = run_kbench("compare", str(base), str(h100), timeout=120)
    assert gpu.returncode == 2 and "--allow-env-mismatch" in gpu.stderr
    forced = run_kbench("compare", str(base), str(h100), "--allow-env-mismatch", timeout=120)
    assert forced.returncode == 0, forced.stderr
    threshold = run_kbench("compare", str(base), str(base), "-t", "p50:5%", timeout=120)
    assert threshold.returncode == 2 and "unknown metric 'p50'" in threshold.stderr

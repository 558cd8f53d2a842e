"""Environment parity between sides and rounds, the noise floor, and the PR summary of ``kbench compare``."""

from __future__ import annotations

import numpy as np

from bench.ab import ab_report, check_parity
from bench.cli import main
from bench.compare.noise import noise_floor
from bench.results import RunRecord, Timeline, Timing, append_record
from bench.spec import RunSpec

SPEC = RunSpec(scenario="p", model="kandinsky-3", task="text2img", weights="random", width=1024, height=1024,
               steps=25, guidance_scale=3.0, dtype="fp16", device="cuda")  # fmt: skip
GPU = {"gpu_name": "NVIDIA L4", "gpu_uuid": "GPU-1", "driver_version": "560.35", "power_limit_w": 72.0,
       "sm_clock_max_mhz": 2040, "host": "runner-1", "cpu_model": "EPYC"}  # fmt: skip


def _record(side: str, rnd: int, level: float, *, env=None, warnings=(), clock=2000.0, seed=0) -> RunRecord:
    calls = [float(x) for x in level * np.exp(np.random.default_rng(seed).normal(0.0, 0.01, 5))]
    return RunRecord(
        run_key=SPEC.run_key,
        spec=SPEC,
        status="ok",
        timing=Timing(load_s=1.0, first_image_s=2.0, call_s=calls, per_image_s=calls),
        timeline=Timeline(interval_s=0.05, t_s=[0.0, 0.05, 0.1], series={"sm_clock_mhz": [clock] * 3}),
        env={**GPU, **(env or {})},
        warnings=list(warnings),
        started_at=f"2026-03-01T00:0{rnd}:{0 if side == 'base' else 30}+00:00",
        finished_at="2026-03-01T00:09:00+00:00",
        kbench_version="0.1.0",
        side=side,
        ab_round=rnd,
    )


def test_parity_names_side_differences_and_the_rounds_a_change_touched():
    shared = "GPU shared: other processes [pid 7 (python) 900 MB] were using GPU 0"
    records = [
        _record("base", 1, 1.0),
        _record("head", 1, 1.0, env={"diffusers_version": "0.32.0"}),
        _record("head", 2, 1.0, env={"diffusers_version": "0.32.0"}, warnings=[shared]),
        _record("base", 2, 1.0, warnings=[shared]),
        _record("base", 3, 1.0, clock=1400.0),
        _record("head", 3, 1.0, env={"diffusers_version": "0.32.0", "power_limit_w": 60.0}),
    ]
    for r in records[:1] + records[3:5]:
        r.env["diffusers_version"] = "0.31.0"
    parity = check_parity(records)
    assert [str(d) for d in parity.differences] == [
        "power limit (W): base 72.0 / head 60.0, 72.0",
        "diffusers: base 0.31.0 / head 0.32.0",
    ]
    events = {e.what: (e.rounds, e.sides) for e in parity.events}
    assert events["another process on the GPU"] == ((2,), ("base", "head"))
    assert events["power limit (W) 60.0 instead of 72.0"] == ((3,), ("head",))
    assert events["SM clock low (1400 MHz, usual 2000 MHz)"] == ((3,), ("base",))


def test_noise_floor_is_the_spread_between_processes_of_one_side():
    base = [_record("base", 1, 1.00, seed=1), _record("base", 2, 1.10, seed=2)]
    head = [_record("head", 1, 1.00, seed=3)]
    floor = noise_floor(base, head)[SPEC.run_key]
    assert floor is not None and 0.07 < floor < 0.13  # 10% apart, within the 1% call noise
    assert noise_floor(head)[SPEC.run_key] is None  # one process: not measured


def test_ab_summary_puts_the_verdict_first(tmp_path):
    from bench.report.summary_md import render_ab_summary

    records = [
        _record(s, r, 1.0 if s == "base" else 1.5, seed=r * 2 + (s == "head"))
        for r in (1, 2, 3, 4)  # four processes a side: the fewest that carry a verdict at 95%
        for s in ("base", "head")
    ]
    text = render_ab_summary(ab_report(records), figure="ab.png")
    first = text.splitlines()[0]
    assert first.startswith("### kbench ab: FAIL") and "1 regression" in first
    two_rounds = render_ab_summary(ab_report([r for r in records if r.ab_round <= 2]))
    assert (
        two_rounds.startswith("### kbench ab: PASS") and "not judged: too few samples (2 and 2 processes" in two_rounds
    )
    assert "**REGRESSION**" in text and "![" in text and "(ab.png)" in text and "Noise floor" in text


def test_compare_writes_the_pr_summary_and_the_job_summary(tmp_path, monkeypatch, capsys):
    base, cur = tmp_path / "base.jsonl", tmp_path / "cur.jsonl"
    for i, level in enumerate((1.0, 1.04)):
        append_record(base, _record("base", i + 1, level, seed=i).model_copy(update={"side": None}))
        append_record(cur, _record("head", i + 1, level * 1.01, seed=i + 9).model_copy(update={"side": None}))
    job = tmp_path / "step-summary.md"
    job.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(job))
    summary = tmp_path / "pr.md"
    assert main(["compare", str(base), str(cur), "--summary", str(summary), "--step-summary"]) == 0
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### kbench compare: PASS")
    assert "processes running the same code differ by 4." in text  # 1.04 vs 1.00: the measured floor
    assert (tmp_path / "pr.png").read_bytes()[:4] == b"\x89PNG" and "(pr.png)" in text
    appended = job.read_text(encoding="utf-8")
    assert appended.startswith("earlier step\n### kbench compare: PASS") and "(pr.png)" not in appended

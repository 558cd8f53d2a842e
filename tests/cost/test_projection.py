"""Roofline projection: monotonicity, calibration round-trip, measured-wins, and the fitted defaults."""

from __future__ import annotations

import numpy as np
import pytest

from bench.cost.catalog import load_catalog
from bench.cost.counting.ops import OpCount
from bench.cost.counting.profile import StagePart, WorkloadProfile, profile_workload
from bench.cost.counting.reference import count_sd15_unet_step
from bench.cost.projection import calibrate, estimate_for_records, estimate_workload, project
from bench.cost.roofline import (
    DEFAULT_COMPUTE_EFF,
    DEFAULT_EFF_SOURCE,
    DEFAULT_MEMORY_EFF,
    Efficiency,
    call_time_s,
    fit_efficiency,
    published_s_per_step,
)
from bench.spec import Workload, parse_resolution

from . import make_record

CAT = load_catalog()
K22 = Workload(model="kandinsky-2.2", task="text2img", width=512, height=512, steps=50)
STAGES_4090 = {"text_encode": 0.02, "prior": 0.5, "denoise": 3.0, "decode": 0.2}


def test_roofline_of_one_call_by_hand():
    # 1 TFLOP and 1 GB on an RTX 4090 (165.2 TFLOPS fp16, 1008 GB/s) at efficiencies 0.5 / 0.5
    c = OpCount(flops=np.array([1e12]), bytes=np.array([1e9]), weight_bytes=0, activation_peak_bytes=0)
    gpu = CAT.get("rtx4090")
    assert call_time_s(c, gpu, "fp16", Efficiency(0.5, 0.5)) == pytest.approx(1e12 / (165.2e12 * 0.5))
    assert call_time_s(c, gpu, "fp32", Efficiency(0.5, 0.5)) == pytest.approx(1e12 / (82.6e12 * 0.5))
    heavy = OpCount(flops=np.array([1e9]), bytes=np.array([1e10]), weight_bytes=0, activation_peak_bytes=0)
    assert call_time_s(heavy, gpu, "fp16", Efficiency(0.5, 0.5)) == pytest.approx(1e10 / (1008e9 * 0.5))
    assert CAT.get("t4").peak_tflops("bf16") == CAT.get("t4").fp32_tflops  # no native BF16 on Turing


@pytest.mark.parametrize("gpu_id", ["rtx3060", "rtx4090", "a100-80gb-sxm", "h100-sxm", "t4"])
def test_more_steps_or_pixels_never_project_faster(gpu_id):
    gpu = CAT.get(gpu_id)
    times = [
        project(profile_workload(K22.with_(width=side, height=side, steps=steps)), gpu).s_per_image
        for side, steps in [(512, 25), (512, 50), (640, 50), (768, 50), (768, 100)]
    ]
    assert times == sorted(times)
    assert times[0] < times[-1]


def test_calibration_round_trip_reproduces_the_measurement():
    record = make_record(median_s=4.0, stages=STAGES_4090)
    gpu = CAT.get("rtx4090")
    profile = profile_workload(Workload.from_spec(record.spec))
    cal = calibrate(record, gpu, profile)
    back = project(profile, gpu, cal)
    assert back.s_per_image == pytest.approx(4.0, rel=1e-12)
    for stage, seconds in STAGES_4090.items():
        assert back.stage_s[stage] == pytest.approx(seconds, rel=1e-12)
    assert back.overhead_s == pytest.approx(4.0 - sum(STAGES_4090.values()))
    # on another GPU the learned corrections carry over: faster card, faster projection
    h100 = project(profile, CAT.get("h100-sxm"), cal)
    assert h100.s_per_image < 4.0
    assert h100.calibration == cal.label and "rtx4090" in cal.label


def test_calibration_from_total_time_only_round_trips():
    record = make_record(median_s=6.5, stages={})
    gpu = CAT.get("rtx4090")
    profile = profile_workload(Workload.from_spec(record.spec))
    cal = calibrate(record, gpu, profile)
    assert not cal.by_stage
    assert project(profile, gpu, cal).s_per_image == pytest.approx(6.5, rel=1e-12)


def test_calibration_round_trip_with_offload_and_batch():
    record = make_record(median_s=2.0, batch_size=4, memory="model_cpu_offload", stages=STAGES_4090)
    gpu = CAT.get("rtx4090")
    profile = profile_workload(Workload.from_spec(record.spec))
    assert project(profile, gpu, calibrate(record, gpu, profile)).s_per_image == pytest.approx(2.0, rel=1e-12)


def test_measured_wins_and_calibrates_the_other_gpus():
    record = make_record(median_s=4.0, stages=STAGES_4090, vram_peak_mb=12 * 1024)
    ests = {e.gpu_id: e for e in estimate_for_records([record], CAT)}
    assert len(ests) == len(CAT.gpus)
    mine = ests["rtx4090"]
    assert (mine.source, mine.s_per_image, mine.vram_source) == ("measured", 4.0, "measured")
    assert mine.vram_needed_gb == pytest.approx(12.0)
    assert mine.run_key == record.run_key and mine.resolution == "512x512"
    assert mine.usd_per_1k_images == pytest.approx(4.0 * 0.10 / 3.6)  # guide's $0.10/h is the cheapest
    other = ests["h100-sxm"]
    assert other.source == "projected" and "calibrated on rtx4090" in other.calibration
    assert other.vram_source == "projected"


def test_cpu_and_tiny_records_never_calibrate():
    cpu = make_record(device="cpu", gpu_name=None, median_s=300.0)
    tiny = make_record(weights="tiny", median_s=0.01)
    for records in ([cpu], [tiny]):
        ests = estimate_for_records(records, CAT, ["rtx4090", "h100-sxm"])
        assert [e.source for e in ests] == ["projected", "projected"]
        assert all(e.calibration == DEFAULT_EFF_SOURCE for e in ests)


def test_failed_records_are_ignored_and_unknown_gpus_do_not_measure():
    assert estimate_for_records([make_record(status="oom")], CAT) == []
    odd = make_record(gpu_name="Some Future GPU", median_s=1.0)
    ests = estimate_for_records([odd], CAT, ["rtx4090"])
    assert ests[0].source == "projected"


def test_synthetic_profile_projection_sums_stages():
    count = OpCount(
        flops=np.array([165.2e12 * 0.5]), bytes=np.array([1.0]), weight_bytes=10**9, activation_peak_bytes=0
    )
    w = Workload(model="kandinsky-3", task="text2img", width=1024, height=1024, steps=10)
    prof = WorkloadProfile(workload=w, parts=(StagePart("denoise", "main", "unet", 2, 10.0, count),))
    # 10 calls of exactly 0.5 s of peak compute at efficiency 0.5 -> 1 s each
    assert project(prof, CAT.get("rtx4090"), eff=Efficiency(0.5, 0.5)).s_per_image == pytest.approx(10.0)
    offload = WorkloadProfile(workload=w.with_(memory="sequential_cpu_offload"), parts=prof.parts)
    extra = 10 * 1e9 / 31.5e9  # 1 GB of weights streamed on each of 10 calls at 31.5 GB/s
    assert project(offload, CAT.get("rtx4090"), eff=Efficiency(0.5, 0.5)).s_per_image == pytest.approx(10.0 + extra)


def test_default_efficiencies_are_the_fit_to_published_sd15_timings():
    points = []
    for p in CAT.published_timings:
        if p.model == "sd-1.5" and p.use == "fit":
            w, h = parse_resolution(p.resolution)
            points.append((count_sd15_unet_step(p.batch_size, w, h), CAT.get(p.gpu), p.dtype, published_s_per_step(p)))
    assert len(points) == 8
    eff, rms = fit_efficiency(points)
    assert (eff.compute, eff.memory) == (DEFAULT_COMPUTE_EFF, DEFAULT_MEMORY_EFF)
    assert rms < 0.35


def test_estimate_workload_without_records_labels_defaults():
    ests = estimate_workload(K22, CAT, gpu_ids=["rtx3060", "b200"])
    assert [e.gpu_id for e in ests] == ["rtx3060", "b200"]
    assert ests[0].s_per_image > ests[1].s_per_image
    assert all(e.source == "projected" and e.fits for e in ests)

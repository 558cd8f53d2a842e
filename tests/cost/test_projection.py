"""The op-level projection: hand-computed kernel times, offload, monotonicity, calibration round trips, intervals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bench.cost.catalog import load_catalog
from bench.cost.counting.ops import CONV, ELEMENTWISE, GEMM, OpCount
from bench.cost.counting.profile import StagePart, WorkloadProfile, profile_workload
from bench.cost.intervals import shipped_intervals
from bench.cost.projection import calibrate, estimate_workload, project
from bench.cost.roofline import (
    DEFAULT_EFF_SOURCE,
    SMOOTH_MAX_P,
    ModelConstants,
    call_time_s,
    host_link_gbs,
    shipped_constants,
    stage_times,
)
from bench.spec import Workload

from . import make_record

CAT = load_catalog()
K22 = Workload(model="kandinsky-2.2", task="text2img", width=512, height=512, steps=50)
STAGES_4090 = {"text_encode": 0.02, "prior": 0.5, "denoise": 3.0, "decode": 0.2}


def constants(**changes: float) -> ModelConstants:
    """Round-number constants for hand calculations: efficiencies 0.5, no floors, no host cost."""
    params = {
        "e_gemm": 0.5,
        "e_conv": 0.5,
        "e_attention": 0.5,
        "m_gemm": 0.5,
        "m_conv": 0.5,
        "m_elementwise": 0.5,
        "m_norm": 0.5,
        "m_copy": 0.5,
        "kernel_floor_s": 0.0,
        "dispatch_s": 0.0,
        "call_overhead_s": 0.0,
        "link_eff": 0.5,
        "module_s": 0.0,
    }
    return ModelConstants.from_params({**params, **changes})


def count(flops: list[float], nbytes: list[float], kinds: list[int], fp32: list[bool] | None = None) -> OpCount:
    return OpCount(
        flops=np.array(flops, dtype=float),
        bytes=np.array(nbytes, dtype=float),
        weight_bytes=10**9,
        activation_peak_bytes=0,
        kinds=np.array(kinds, dtype=np.int8),
        fp32=np.array(fp32 or [False] * len(flops)),
    )


def test_a_kernel_takes_the_slower_of_its_math_and_its_bytes():
    gpu = CAT.get("rtx4090")  # 165.2 TFLOPS fp16 (FP32 accumulate), 82.6 fp32, 1008 GB/s, Ada
    ada = shipped_constants().arch_memory["Ada"]
    c = constants(arch_memory_Ada=1.0)
    big_gemm = count([1e12], [1e9], [GEMM])
    assert call_time_s(big_gemm, gpu, "fp16", c) == pytest.approx(1e12 / (165.2e12 * 0.5))
    small_gemm = count([1e9], [1e10], [GEMM])  # weight-read bound
    assert call_time_s(small_gemm, gpu, "fp16", c) == pytest.approx(1e10 / (1008e9 * 0.5))
    both = count([1e12, 0.0], [1e9, 4e9], [GEMM, ELEMENTWISE])  # classes add
    assert call_time_s(both, gpu, "fp16", c) == pytest.approx(1e12 / (165.2e12 * 0.5) + 4e9 / (1008e9 * 0.5))
    assert ada > 1.0  # the fit sees Ada (72 MB L2) reach a larger share of its DRAM bandwidth than Ampere


def test_fp32_convolutions_use_tf32_on_ampere_and_later_and_bf16_falls_back_on_turing():
    c = constants()
    conv32 = count([1e12], [1.0], [CONV], [True])
    gemm32 = count([1e12], [1.0], [GEMM], [True])
    a100, t4 = CAT.get("a100-80gb-sxm"), CAT.get("t4")
    assert call_time_s(conv32, a100, "fp16", c) == pytest.approx(1e12 / (156e12 * 0.5))  # TF32 = half of 312
    assert call_time_s(gemm32, a100, "fp16", c) == pytest.approx(1e12 / (19.5e12 * 0.5))  # matmul TF32 is off
    assert call_time_s(conv32, t4, "fp16", c) == pytest.approx(1e12 / (t4.fp32_tflops * 1e12 * 0.5))
    half = count([1e12], [1.0], [GEMM])
    assert call_time_s(half, t4, "bf16", c) == pytest.approx(call_time_s(gemm32, t4, "fp16", c))


def test_kernel_floors_add_and_host_dispatch_bounds_a_call_of_tiny_kernels():
    gpu = CAT.get("h100-sxm")
    tiny = count([0.0] * 1000, [1.0] * 1000, [ELEMENTWISE] * 1000)
    floored = constants(kernel_floor_s=2e-6)
    assert call_time_s(tiny, gpu, "fp16", floored) == pytest.approx(1000 * 2e-6, rel=1e-6)
    host = 1000 * 30e-6
    device = 1000 * 2e-6
    dispatched = constants(kernel_floor_s=2e-6, dispatch_s=30e-6)
    expected = (host**SMOOTH_MAX_P + device**SMOOTH_MAX_P) ** (1 / SMOOTH_MAX_P)
    assert call_time_s(tiny, gpu, "fp16", dispatched) == pytest.approx(expected)
    assert host < call_time_s(tiny, gpu, "fp16", dispatched) < host * 1.01  # host-bound: device time hides


def _synthetic(memory: str) -> WorkloadProfile:
    w = Workload(model="kandinsky-3", task="text2img", width=1024, height=1024, steps=10, memory=memory)
    unet = StagePart("denoise", "main", "unet", 2, 10.0, count([165.2e12 * 0.5], [1.0], [GEMM]))
    return WorkloadProfile(
        workload=w, parts=(unet,), weights_by_component={"main/unet": 10**9}, leaf_modules={"main/unet": 100}
    )


def test_offload_moves_weights_over_the_pcie_link_of_the_gpu():
    c = constants(arch_memory_Ada=1.0, module_s=1e-4, call_overhead_s=0.05)
    gpu = CAT.get("rtx4090")  # PCIe 4.0 x16: 31.5 GB/s per direction
    none = stage_times(_synthetic("none"), gpu, c).total()
    assert none == pytest.approx(10.0 + 0.05)  # 10 calls of exactly 1 s, plus the per-call overhead
    model = stage_times(_synthetic("model_cpu_offload"), gpu, c).total()
    assert model - none == pytest.approx(1e9 / (31.5e9 * 0.5))  # weights once per pipeline call
    seq = stage_times(_synthetic("sequential_cpu_offload"), gpu, c).total()
    assert seq - none == pytest.approx(10 * (1e9 / (31.5e9 * 0.5) + 100 * 1e-4))  # every call, every module
    assert host_link_gbs(CAT.get("t4")) == pytest.approx(15.75)  # PCIe 3.0
    assert host_link_gbs(CAT.get("h100-sxm")) == pytest.approx(63.0)  # PCIe 5.0


@pytest.mark.parametrize("gpu_id", ["rtx3060", "rtx4090", "a100-80gb-sxm", "h100-sxm", "t4", "b200"])
def test_more_steps_or_pixels_never_project_faster(gpu_id):
    gpu = CAT.get(gpu_id)
    times = [
        project(profile_workload(K22.with_(width=side, height=side, steps=steps)), gpu).s_per_image
        for side, steps in [(512, 25), (512, 50), (640, 50), (768, 50), (768, 100)]
    ]
    assert times == sorted(times)
    assert times[0] < times[-1]


@pytest.mark.parametrize("gpu_id", ["t4", "rtx4090", "h100-sxm"])
@pytest.mark.parametrize("model", ["kandinsky-2.2", "flux.1-schnell"])
def test_more_batch_never_costs_more_per_image(model, gpu_id):
    gpu = CAT.get(gpu_id)
    w = Workload(model=model, task="text2img", width=512, height=512, steps=4)
    per_image = [project(profile_workload(w.with_(batch_size=b)), gpu).s_per_image for b in (1, 2, 4)]
    assert all(later <= earlier * (1 + 1e-9) for earlier, later in itertools.pairwise(per_image))


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
    h100 = project(profile, CAT.get("h100-sxm"), cal)  # the corrections carry over: faster card, faster figure
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


def test_measured_wins_and_calibrated_figures_carry_a_narrower_interval():
    record = make_record(median_s=4.0, stages=STAGES_4090, vram_peak_mb=12 * 1024)
    ests = {e.gpu_id: e for e in estimate_workload(Workload.from_spec(record.spec), CAT, [record])}
    assert len(ests) == len(CAT.gpus)
    measured = ests["rtx4090"]
    assert (measured.source, measured.s_per_image, measured.vram_source) == ("measured", 4.0, "measured")
    assert measured.s_per_image_interval is None
    assert measured.usd_per_1k_images == pytest.approx(4.0 * 0.10 / 3.6)  # guide's $0.10/h is the cheapest
    other = ests["h100-sxm"]
    assert other.source == "projected" and "calibrated on rtx4090" in other.calibration
    bigger = K22.with_(width=768, height=768)
    uncalibrated = estimate_workload(bigger, CAT, gpu_ids=["rtx4090"])[0]
    same_gpu = estimate_workload(bigger, CAT, [record], gpu_ids=["rtx4090"])[0]
    assert same_gpu.source == "projected" and "calibrated on rtx4090" in same_gpu.calibration

    def width(e):
        lo, hi = e.s_per_image_interval
        return math.log(hi / lo)

    assert width(same_gpu) < width(uncalibrated)


def test_every_projected_figure_has_an_interval_that_contains_it_and_widens_with_what_was_not_seen():
    ests = {e.gpu_id: e for e in estimate_workload(K22, CAT)}
    for e in ests.values():
        lo, hi = e.s_per_image_interval
        assert lo < e.s_per_image < hi
    table = shipped_intervals()
    assert "rtx4090" in table.fitted_gpus and "l40s" not in table.fitted_gpus
    seen_gpu = math.log(ests["rtx4090"].s_per_image_interval[1] / ests["rtx4090"].s_per_image_interval[0])
    unseen_gpu = math.log(ests["l40s"].s_per_image_interval[1] / ests["l40s"].s_per_image_interval[0])
    assert unseen_gpu > seen_gpu  # the L40S is in no fitted row: its GPU's error adds to the model's


def test_cpu_and_tiny_records_never_calibrate():
    cpu = make_record(device="cpu", gpu_name=None, median_s=300.0)
    tiny = make_record(weights="tiny", median_s=0.01)
    for record in (cpu, tiny):
        ests = estimate_workload(Workload.from_spec(record.spec), CAT, [record], ["rtx4090", "h100-sxm"])
        assert [e.source for e in ests] == ["projected", "projected"]
        assert all(e.calibration == DEFAULT_EFF_SOURCE for e in ests)


def test_failed_records_are_ignored_and_unknown_gpus_do_not_measure():
    oom = make_record(status="oom")
    assert [e.source for e in estimate_workload(Workload.from_spec(oom.spec), CAT, [oom], ["rtx4090"])] == ["projected"]
    odd = make_record(gpu_name="Some Future GPU", median_s=1.0)
    ests = estimate_workload(Workload.from_spec(odd.spec), CAT, [odd], ["rtx4090"])
    assert ests[0].source == "projected"


def test_estimate_workload_without_records_labels_defaults():
    ests = estimate_workload(K22, CAT, gpu_ids=["rtx3060", "b200"])
    assert [e.gpu_id for e in ests] == ["rtx3060", "b200"]
    assert ests[0].s_per_image > ests[1].s_per_image
    assert all(e.source == "projected" and e.fits for e in ests)

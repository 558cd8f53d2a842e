"""What bounds a projection (compute, memory or the host), the Hopper tensor-core path, and intervals for unseen units.

The issue these guard: Kandinsky 3 on an H100 was projected at almost the same time at 512x512 and 1024x1024 for
four times the FLOPs. Where the model says the device bounds the work, time must follow the work; where it names
the host (batch 1 on a fast GPU), a flat time is what the published batch scaling shows too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.cost.catalog import load_catalog
from bench.cost.counting.ops import ATTENTION, CONV, GEMM, OpCount
from bench.cost.counting.profile import profile_workload
from bench.cost.fit import PARAMS
from bench.cost.intervals import hierarchical_band, quantile_band
from bench.cost.projection import estimate_workload, project
from bench.cost.roofline import ModelConstants, call_breakdown, call_time_s, shipped_constants, stage_limits
from bench.cost.timings import load_timings
from bench.spec import Workload

CAT = load_catalog()
K3 = Workload(model="kandinsky-3", task="text2img", width=512, height=512, steps=50)


def _per_image(w: Workload, gpu_id: str) -> tuple[float, float, str]:
    profile = profile_workload(w)
    limits = stage_limits(profile, CAT.get(gpu_id))["denoise"]
    return project(profile, CAT.get(gpu_id)).s_per_image, profile.flops_per_image(), limits.limiter


@pytest.mark.parametrize("gpu_id", ["h100-sxm", "a100-80gb-sxm", "rtx4090"])
def test_projected_time_grows_with_flops_where_the_device_bounds_the_work(gpu_id):
    device_bound = 0
    for batch in (1, 2, 4, 8, 16, 32):
        small_s, small_flops, small_limit = _per_image(K3.with_(batch_size=batch), gpu_id)
        large_s, large_flops, large_limit = _per_image(K3.with_(width=1024, height=1024, batch_size=batch), gpu_id)
        flops_ratio = large_flops / small_flops
        assert flops_ratio == pytest.approx(3.94, rel=0.02)  # the MoVQ decode and the UNet both grow with pixels
        assert large_s > small_s
        if small_limit != "host":  # the device bounds both sizes: time follows the work
            device_bound += 1
            assert large_limit != "host"
            assert large_s / small_s >= 0.75 * flops_ratio, (batch, large_s / small_s)
        if small_limit == large_limit == "compute":
            assert large_s / small_s >= 0.85 * flops_ratio, (batch, large_s / small_s)
    assert device_bound >= 1  # the check above ran


def test_kandinsky_3_at_batch_1_on_an_h100_is_host_bound_as_its_published_batch_scaling_shows():
    _, _, small = _per_image(K3, "h100-sxm")
    large_s, _, large = _per_image(K3.with_(width=1024, height=1024), "h100-sxm")
    small_s, _, _ = _per_image(K3, "h100-sxm")
    assert small == large == "host"  # 2433 kernels per UNet call dispatched from Python
    assert large_s / small_s < 1.5  # four times the FLOPs, hidden under the dispatch time
    rows = {r.id: r.seconds for r in load_timings(CAT)}
    published = rows["mlenergy-k3-h100-b2"] / rows["mlenergy-k3-h100-b1"]
    assert published < 1.3  # ML.ENERGY: twice the images per call cost 22% more on the H100: host-bound at batch 1
    projected = [
        project(profile_workload(K3.with_(width=1024, height=1024, steps=25, batch_size=b)), CAT.get("h100-sxm"))
        for b in (1, 2)
    ]
    ratio = 2 * projected[1].s_per_image / projected[0].s_per_image
    assert ratio == pytest.approx(published, rel=0.15)


def _count(flops: float, nbytes: float, kind: int) -> OpCount:
    return OpCount(
        flops=np.array([flops]),
        bytes=np.array([nbytes]),
        weight_bytes=0,
        activation_peak_bytes=0,
        kinds=np.array([kind], dtype=np.int8),
        fp32=np.array([False]),
    )


def _constants(**changes: float) -> ModelConstants:
    params = dict.fromkeys(("e_gemm", "e_conv", "e_attention", "m_gemm", "m_conv"), 0.5)
    params |= dict.fromkeys(("m_elementwise", "m_norm", "m_copy", "link_eff"), 0.5)
    params |= dict.fromkeys(("kernel_floor_s", "dispatch_s", "call_overhead_s", "module_s"), 0.0)
    return ModelConstants.from_params({**params, **changes})


def test_hopper_runs_convolutions_and_attention_on_the_older_tensor_core_path_and_gemms_at_full_rate():
    c = _constants(legacy_mma_Hopper=0.5, arch_memory_Hopper=1.0)
    h100, a100 = CAT.get("h100-sxm"), CAT.get("a100-80gb-sxm")
    for kind in (CONV, ATTENTION):
        assert call_time_s(_count(1e12, 1.0, kind), h100, "fp16", c) == pytest.approx(1e12 / (989.4e12 * 0.25))
        assert call_time_s(_count(1e12, 1.0, kind), a100, "fp16", c) == pytest.approx(1e12 / (312e12 * 0.5))
    assert call_time_s(_count(1e12, 1.0, GEMM), h100, "fp16", c) == pytest.approx(1e12 / (989.4e12 * 0.5))


def test_convolution_operands_move_at_their_own_bandwidth_and_the_breakdown_names_the_bound():
    c = _constants(m_conv=0.125)
    a100 = CAT.get("a100-80gb-sxm")  # 2039 GB/s
    conv = call_breakdown(_count(1e9, 1e9, CONV), a100, "fp16", c)
    assert conv.total_s == pytest.approx(1e9 / (2039e9 * 0.125))  # NCHW layout passes: the bytes bound it
    assert (conv.compute_s, conv.memory_s) == (0.0, pytest.approx(conv.total_s))
    gemm = call_breakdown(_count(1e12, 1e9, GEMM), a100, "fp16", c)
    assert gemm.compute_s == pytest.approx(1e12 / (312e12 * 0.5)) and gemm.memory_s == 0.0


def test_blackwell_is_centred_on_hopper_its_nearest_measured_generation():
    tied = {p.name: p.tied_to for p in PARAMS}
    assert tied["arch_memory_Blackwell"] == "arch_memory_Hopper"
    assert tied["legacy_mma_Blackwell"] == "legacy_mma_Hopper"
    shipped = shipped_constants()
    assert shipped.legacy_mma["Blackwell"] == pytest.approx(shipped.legacy_mma["Hopper"], rel=0.05)
    assert shipped.arch_memory["Blackwell"] == pytest.approx(shipped.arch_memory["Hopper"], rel=0.05)
    assert shipped.legacy_mma["Ampere"] == 1.0 and shipped.legacy_mma["Hopper"] < 0.8
    # a projection onto a Blackwell card says whose fractions it carries, and has the unseen-GPU band
    w = Workload(model="kandinsky-2.2", task="text2img", width=512, height=512, steps=2)
    ests = {e.gpu_id: e for e in estimate_workload(w, CAT, gpu_ids=["b200", "rtx5090", "h100-sxm"])}
    for gpu_id in ("b200", "rtx5090"):
        assert "no published Blackwell row: its attainable fractions are Hopper's" in ests[gpu_id].calibration
    assert "Blackwell" not in ests["h100-sxm"].calibration
    lo, hi = ests["b200"].s_per_image_interval
    h_lo, h_hi = ests["h100-sxm"].s_per_image_interval
    assert hi / lo > h_hi / h_lo  # a GPU no fitted row ran on: a wider band


def test_an_unseen_unit_gets_the_spread_of_unit_biases_on_top_of_the_within_unit_scatter():
    rng = np.random.default_rng(0)
    biases = {"a": -0.2, "b": 0.0, "c": 0.25}
    units = [u for u in biases for _ in range(20)]
    residuals = np.array([biases[u] for u in units]) + rng.normal(0, 0.03, len(units))
    lo, hi = hierarchical_band(residuals, units)
    pooled_lo, pooled_hi = quantile_band(residuals)
    assert lo < pooled_lo and hi > pooled_hi  # three biases say little about a fourth: wider than the pool
    assert hi - lo > 2 * 0.25  # the band spans more than the biases seen
    assert hierarchical_band(residuals, ["one"] * len(units)) == quantile_band(residuals)
    many = [f"u{i}" for i in range(len(units))]  # every row its own unit: the spread of the rows themselves
    wide = hierarchical_band(residuals, many)
    assert math.isfinite(wide[0]) and wide[0] <= pooled_lo and wide[1] >= pooled_hi

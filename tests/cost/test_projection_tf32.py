"""TF32 as a projection option: fp32 GEMMs at the catalog's dense TF32 rate where a run allowed TF32 matmuls, read
from published rows (``tf32: true``) and from a record's settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.cost.catalog import load_catalog
from bench.cost.counting.ops import CONV, GEMM, OpCount
from bench.cost.counting.profile import profile_workload
from bench.cost.projection import calibrate, estimate_workload, project, record_tf32
from bench.cost.roofline import FAMILIES, call_breakdown, family, tf32_tflops
from bench.cost.timings import load_timings
from bench.spec import Optimisation, Workload

from . import make_record
from .test_projection import constants

CAT = load_catalog()
# SDXL's UNet at 1024x1024 is compute-bound on an A100 (Kandinsky 2.2 at 512x512 and batch 1 is not, and on an
# RTX 4090 the dense TF32 rate is its FP32 rate: there TF32 changes nothing)
FP32 = Workload(model="sdxl-base", task="text2img", width=1024, height=1024, steps=2, dtype="fp32")


def _gemm(fp32: bool = True, kind: int = GEMM) -> OpCount:
    return OpCount(
        flops=np.array([1e14]),
        bytes=np.array([1e6]),  # compute-bound
        weight_bytes=0,
        activation_peak_bytes=0,
        kinds=np.array([kind], dtype=np.int8),
        fp32=np.array([fp32]),
    )


def test_tf32_runs_fp32_gemms_at_the_dense_tf32_rate_on_ampere_and_later():
    c = constants()
    a100, t4 = CAT.get("a100-80gb-sxm"), CAT.get("t4")
    plain = call_breakdown(_gemm(), a100, "fp32", c).compute_s
    tf32 = call_breakdown(_gemm(), a100, "fp32", c, tf32=True).compute_s
    assert plain == pytest.approx(1e14 / (19.5e12 * 0.5)) and tf32 == pytest.approx(1e14 / (156e12 * 0.5))
    # half-precision math and fp32 convolutions (cuDNN's TF32 default) do not change; Turing has no TF32
    for count in (_gemm(fp32=False), _gemm(kind=CONV)):
        assert call_breakdown(count, a100, "fp32", c, tf32=True) == call_breakdown(count, a100, "fp32", c)
    assert call_breakdown(_gemm(), t4, "fp32", c, tf32=True) == call_breakdown(_gemm(), t4, "fp32", c)


def test_the_catalog_tf32_rates_are_dense_datasheet_figures():
    for gpu in CAT.gpus.values():
        if FAMILIES.index(family(gpu)) < FAMILIES.index("Ampere"):
            assert gpu.tf32_tensor_tflops is None and tf32_tflops(gpu) == gpu.fp32_tflops, gpu.id
            continue
        # dense: half the dense FP16 tensor rate (a sparse figure would be the whole of it), above plain FP32
        assert gpu.tf32_tensor_tflops is not None, gpu.id
        assert gpu.tf32_tensor_tflops == pytest.approx(gpu.fp16_tensor_tflops / 2, rel=0.02), gpu.id
        assert tf32_tflops(gpu) >= gpu.fp32_tflops, gpu.id
    assert CAT.get("a100-40gb-sxm").tf32_tensor_tflops == 156 and CAT.get("h100-sxm").tf32_tensor_tflops == 494.7


def test_a_published_row_that_states_tf32_is_projected_with_it():
    rows = {r.id: r for r in load_timings(CAT)}
    sdxl = rows["diffusion-fast-sdxl-a100-80gb-fp32-tf32"]
    assert sdxl.tf32 and sdxl.dtype == "fp32" and sdxl.use == "check"  # shown, not fitted (the dataset's header)
    assert not any(r.tf32 for r in rows.values() if r.dtype != "fp32")


def test_a_record_says_whether_it_had_tf32_and_calibrates_and_measures_at_its_own_rate():
    old = make_record(
        model="sdxl-base",
        width=1024,
        height=1024,
        dtype="fp32",
        steps=2,
        median_s=4.0,
        gpu_name="NVIDIA A100-SXM4-80GB",
    )
    assert not record_tf32(old)  # no tf32_matmul in its environment: torch's default, off
    by_env = old.model_copy(update={"env": {**old.env, "tf32_matmul": True}})
    by_spec = old.model_copy(update={"spec": old.spec.model_copy(update={"optimise": Optimisation(tf32=True)})})
    assert record_tf32(by_env) and record_tf32(by_spec)
    gpu = CAT.get("a100-80gb-sxm")
    profile = profile_workload(FP32)
    # the record's own rate is the base: projecting its workload back with TF32 reproduces it
    assert project(profile, gpu, calibrate(by_env, gpu, profile), tf32=True).s_per_image == pytest.approx(4.0)
    assert project(profile, gpu, tf32=True).s_per_image < project(profile, gpu).s_per_image
    # a TF32 record measures a TF32 estimate only
    with_tf32 = estimate_workload(FP32, CAT, [by_env], gpu_ids=[gpu.id], tf32=True)[0]
    without = estimate_workload(FP32, CAT, [by_env], gpu_ids=[gpu.id])[0]
    assert (with_tf32.source, with_tf32.s_per_image) == ("measured", 4.0)
    assert without.source == "projected" and f"calibrated on {gpu.id}" in without.calibration
    assert without.s_per_image > 4.0  # the same run without TF32 matmuls: slower


def test_recommend_projects_fp32_on_tf32_cores_when_asked_and_says_so(capsys):
    """``kbench recommend --tf32``: the fp32 matmuls at the TF32 rate, the title and the JSON query say so."""
    from bench.cli import main

    args = ["recommend", "--model", "sdxl-base", "--resolution", "1024x1024", "--steps", "30", "--dtype", "fp32"]
    args += ["--gpu", "a100-80gb-sxm", "--no-guide-vram", "--json"]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*args, "--tf32"]) == 0
    tf32 = json.loads(capsys.readouterr().out)
    assert (plain["query"]["tf32"], tf32["query"]["tf32"]) == (False, True)
    fast, slow = tf32["rows"][0]["s_per_image"]["value"], plain["rows"][0]["s_per_image"]["value"]
    assert fast < slow / 2  # an A100's TF32 tensor rate is 8x its FP32 rate; attention and the rest stay
    assert main([*args[:-1], "--tf32", "--dtype", "fp16"]) == 2
    assert "--tf32: changes fp32 matmuls only" in capsys.readouterr().err

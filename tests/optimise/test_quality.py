"""The quality guard: identical images for equivalent settings, finite PSNR where the computation changes,
hand-computed PSNR, and flags below the threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.optimise.quality import baseline_spec, compare_images, image_paths, psnr_ssim, sweep_images_dir
from bench.spec import Optimisation
from tests.factories import tiny_spec


@pytest.mark.parametrize("cell", ["sdpa-math", "sdpa-flash", "channels_last", "vae_tiling", "vae_slicing"])
def test_equivalent_settings_give_identical_or_near_identical_images(sweep, cell):
    record = sweep.records[cell]
    assert record.status == "ok", record.reason
    quality = record.optimise.quality
    assert quality.baseline_key == sweep.records["baseline"].run_key
    assert quality.psnr_db and quality.psnr_min > 50  # inf for bit-identical 8-bit images
    assert not quality.changed


@pytest.mark.parametrize("cell", ["first_block", "int8"])
def test_caching_and_quantization_change_the_images(sweep, cell):
    record = sweep.records[cell]
    assert record.status == "ok", record.reason
    quality = record.optimise.quality
    assert math.isfinite(quality.psnr_min) and quality.ssim_min < 1.0


def test_psnr_matches_the_definition():
    ref = np.full((16, 16, 3), 100, dtype=np.uint8)
    img = ref.copy()
    img[0, 0, 0] = 110  # one pixel channel off by 10: MSE = 100 / 768
    psnr, ssim = psnr_ssim(ref, img)
    assert psnr == pytest.approx(10 * math.log10(255**2 / (100 / 768)))
    assert ssim < 1.0
    assert psnr_ssim(ref, ref.copy()) == (math.inf, 1.0)


def test_cells_below_the_threshold_are_flagged():
    ref = np.zeros((16, 16, 3), dtype=np.uint8)
    noisy = np.full((16, 16, 3), 20, dtype=np.uint8)  # MSE 400: 22.1 dB
    quality = compare_images([noisy], [ref], baseline_key="k", threshold_db=30.0)
    assert quality.changed and quality.psnr_min == pytest.approx(22.11, abs=0.01)
    assert not compare_images([noisy], [ref], baseline_key="k", threshold_db=20.0).changed


def test_baseline_images_are_found_by_the_baseline_key(sweep):
    spec = sweep.records["int8"].spec
    assert baseline_spec(spec).run_key == sweep.records["baseline"].run_key
    assert len(image_paths(sweep.images, baseline_spec(spec).run_key)) == spec.images_per_call


def test_a_sweep_with_settings_keeps_images_beside_the_results(tmp_path):
    results = tmp_path / "r.jsonl"
    assert sweep_images_dir([tiny_spec()], results) is None
    tuned = tiny_spec(optimise=Optimisation(channels_last=True))
    assert sweep_images_dir([tiny_spec(), tuned], results) == tmp_path / "r.images"

"""The model comparison table: measured cells from records, projected ones otherwise, registry facts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.cli import main
from bench.cost.catalog import load_catalog
from bench.cost.model_comparison import compare_models
from bench.errors import KbenchError, ScenarioError
from bench.report.model_table import render_markdown_table, table_cells
from bench.results import append_record

from . import make_record

GPUS = ["rtx4090", "a100-80gb-sxm"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(overrides={"rtx4090": 0.36, "a100-80gb-sxm": 1.80})


def test_a_record_measures_its_own_gpu_and_calibrates_the_other(catalog):
    rec = make_record(model="sdxl-base", width=1024, height=1024, steps=50, median_s=8.0, vram_peak_mb=9000.0)
    (row,) = compare_models(catalog, GPUS, models=["sdxl-base"], records=[rec])
    assert (row.resolution, row.steps, row.dtype) == ("1024x1024", 50, "fp16")  # the model's defaults
    none, model_offload, seq_offload = row.vram
    assert (none.memory, none.source, none.gib) == ("none", "measured", pytest.approx(9000 / 1024))
    assert model_offload.source == seq_offload.source == "projected"
    assert seq_offload.gib < model_offload.gib
    rtx, a100 = row.speed
    assert (rtx.source, rtx.memory, rtx.s_per_image) == ("measured", "none", 8.0)
    assert rtx.usd_per_1k_images == pytest.approx(8.0 * 0.36 / 3.6)  # 8 s x $0.36/h x 1000 / 3600 s
    assert a100.source == "projected" and a100.calibration.startswith("calibrated on rtx4090 by ")
    assert a100.usd_per_1k_images == pytest.approx(a100.s_per_image * 1.80 / 3.6)
    assert row.tasks == ("text2img", "img2img", "inpaint", "outpaint")
    headers, (cells,) = table_cells([row])
    assert headers[4:7] == ["VRAM GiB none", "VRAM GiB model offload", "VRAM GiB seq offload"]
    assert cells[4] == "8.8 meas" and cells[5].endswith(" proj")
    assert cells[headers.index("rtx4090 s/img")] == "8.00 meas"
    assert cells[headers.index("rtx4090 $/1k img")] == "$0.800 meas"
    assert cells[headers.index("a100-80gb-sxm s/img")].endswith(" proj")


def test_a_model_too_big_for_a_card_is_timed_under_the_lightest_offload_that_fits(catalog):
    flux, k5 = compare_models(catalog, ["rtx4090", "rtx3060"], models=["flux.1-schnell", "kandinsky-5-lite"])
    # 11.9 B transformer + 4.8 B T5 in fp16 are over 24 GiB resident; the transformer alone fits
    assert flux.vram[0].gib > 24 > flux.vram[1].gib > 22
    rtx4090, rtx3060 = flux.speed
    assert (rtx4090.memory, rtx4090.source) == ("model_cpu_offload", "projected")
    assert rtx3060.memory == "sequential_cpu_offload"  # 12 GB card: only leaf-by-leaf streaming fits
    assert flux.languages == {"ru": False, "zh": False, "de": False}
    assert k5.languages == {"ru": True, "zh": True, "de": True} and "Qwen2.5" in k5.language_source
    bf16 = compare_models(catalog, ["rtx4090"], models=["flux.1-schnell"], dtype="bf16")[0]
    fp32 = compare_models(catalog, ["rtx4090"], models=["flux.1-schnell"], dtype="fp32")[0]
    # fp16 keeps T5-XXL's 24 feed-forward output layers (4096 x 10240 each) in fp32; bf16 does not
    assert flux.vram[0].gib - bf16.vram[0].gib == pytest.approx(24 * 4096 * 10240 * 2 / 2**30)
    assert fp32.vram[0].gib > 1.9 * (flux.vram[0].gib - 1.0)  # every byte doubles but the 1 GiB workspace
    md = render_markdown_table([flux, k5])
    assert md.splitlines()[0].startswith("| model | res | steps | dtype | VRAM GiB none |")
    assert "| kandinsky-5-lite | 1024x1024 | 50 | fp16 |" in md
    assert "- languages kandinsky-5-lite: https://github.com/kandinskylab/kandinsky-5" in md


def test_bad_input_is_one_clear_error(catalog):
    with pytest.raises(
        ScenarioError,
        match="--resolution: 1000x1000 is not possible for kandinsky-5-lite; width and height must be multiples of 64",
    ):
        compare_models(catalog, GPUS, models=["kandinsky-5-lite"], resolution=(1000, 1000))
    with pytest.raises(ScenarioError, match="--gpu: give at least one"):
        compare_models(catalog, [], models=["sdxl-base"])
    with pytest.raises(ScenarioError, match="--dtype: must be one of fp32, fp16, bf16"):
        compare_models(catalog, GPUS, models=["sdxl-base"], dtype="int8")
    with pytest.raises(KbenchError, match="rtx9999"):
        compare_models(catalog, ["rtx9999"], models=["sdxl-base"])


def test_compare_models_command(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    append_record(results, make_record(model="flux.1-schnell", width=1024, height=1024, steps=4, median_s=2.5))
    args = ["compare-models", "--gpu", "rtx4090", "--model", "flux.1-schnell", "--model", "sdxl-base"]
    # in-process (same entry point as the console script) so the meta counts are shared with other tests
    assert main([*args, "--results", str(results), "--price", "rtx4090=0.36"]) == 0
    out = capsys.readouterr().out.splitlines()
    flux = next(line for line in out if line.startswith("flux.1-schnell"))
    # measured at memory none on the RTX 4090, though the estimate says only offload fits: measured wins
    assert "2.50 meas" in flux and "$0.250 meas" in flux
    assert "  projected sdxl-base: op-level model fitted to published timings" in "\n".join(out)
    assert not any(line.startswith("  projected flux.1-schnell") for line in out)  # its only cell is measured
    assert any(line.startswith("  price rtx4090: user (override)") for line in out)
    assert main([*args, "--resolution", "1024x1000"]) == 2  # SDXL takes multiples of 8, FLUX.1 of 16
    assert "--resolution: 1024x1000 is not possible for flux.1-schnell; width and height must be multiples of 16" in (
        capsys.readouterr().err
    )
    out2 = subprocess.run(
        [sys.executable, "-m", "bench", "compare-models", "--gpu", "rtx4090", "--model", "kandinsky-5-lite",
         "--resolution", "999x999"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out2.returncode == 2
    assert out2.stderr.strip().startswith("kbench: error: --resolution: 999x999 is not possible for kandinsky-5-lite")

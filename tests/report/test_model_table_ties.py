"""The model comparison marks a GPU tied with the model's cheapest where their $ intervals overlap."""

from __future__ import annotations

from bench.cost.model_comparison import ModelRow, SpeedCell, VramCell
from bench.report.model_table import table_cells, table_notes, tied_gpus


def cell(gpu: str, usd: float, band: tuple[float, float] | None) -> SpeedCell:
    return SpeedCell(
        gpu_id=gpu, gpu_name=gpu, gpu_vram_gb=24, memory="none", s_per_image=usd, usd_per_1k_images=usd,
        source="projected" if band else "measured", calibration="test", price_label=None,
        s_per_image_interval=band, usd_per_1k_interval=band,
    )  # fmt: skip


def row(*speed: SpeedCell) -> ModelRow:
    return ModelRow(
        model="m", display_name="M", task="text2img", resolution="512x512", steps=50, dtype="fp16",
        tasks=("text2img",), vram=(VramCell("none", 10.0, "projected"),), speed=speed,
        languages={"ru": False, "zh": False, "de": False},
        language_source="",
    )  # fmt: skip


def test_overlapping_dollar_intervals_are_tied_and_marked():
    r = row(cell("a", 1.0, (0.8, 1.3)), cell("b", 1.2, (1.1, 1.6)), cell("c", 2.0, (1.5, 2.5)), cell("d", 1.25, None))
    assert tied_gpus(r) == {"b", "d"}  # b starts below a's 1.3; a measured 1.25 sits inside it; c starts above
    headers, body = table_cells([r])
    assert body[0][headers.index("b $/1k img")] == "$1.200* proj"
    assert body[0][headers.index("a s/img")] == "1.00 (0.80-1.30) proj"
    assert any(note.startswith("* its $ interval overlaps") for note in table_notes([r]))
    assert tied_gpus(row(cell("a", 1.0, None), cell("b", 1.1, None))) == set()  # no interval: no tie claimed

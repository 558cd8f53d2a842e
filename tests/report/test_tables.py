"""Report tables: hand-computed rows from hand-built records."""

from __future__ import annotations

import math

import pytest

from bench.cost.guide import rental_rates
from bench.report.context import environment_blocks, weight_notes
from bench.report.format import fmt_num
from bench.report.points import pareto_front
from bench.report.rows import NO_COST_CPU, NO_COST_FAILED, NO_COST_NOT_IN_CATALOG, summary_rows
from bench.results import ErrorInfo
from tests.report.conftest import all_records, make_record, make_spec


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (2.0, 3.0)]
    # (3, 4) is beaten by (2, 3); the duplicate (2, 3) adds nothing; (1, 5) is fastest and (4, 1) cheapest.
    assert pareto_front(points) == [0, 1, 3]
    assert pareto_front([]) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (math.nan, "—"),
        (0.0, "0"),
        (5.4, "5.4"),
        (0.18518, "0.185"),
        (1620.0, "1,620"),
        (999.9, "1,000"),
        (1.234e-5, "0.0000123"),
    ],
)
def test_fmt_num(value, text):
    assert fmt_num(value) == text


def test_summary_rows_cost_on_the_measured_gpu_or_say_why(catalog):
    rows = summary_rows(all_records(), catalog)
    assert [r.status for r in rows] == ["ok"] * 5 + ["oom", "skipped", "ok"]
    k3 = rows[4]
    assert (k3.median_s_per_image, k3.p90_s_per_image, k3.peak_memory_mb) == (5.4, 5.9, 21500.0)
    assert k3.images_per_s == pytest.approx(1 / 5.4) and k3.energy_j_per_image == pytest.approx(1620.0)
    # Measured on an RTX 4090 at $0.36/h: 1000 images x 5.4 s x $0.36 / 3600 s = $0.54.
    assert k3.usd_per_1k_images == pytest.approx(0.54)
    assert k3.cost_note.startswith("measured on GeForce RTX 4090 at $0.36/h (user (override)")
    assert rows[5].reason == "CUDA out of memory. Tried to allocate 4.00 GiB" and rows[5].cost_note == NO_COST_FAILED
    assert rows[7].usd_per_1k_images is None and rows[7].cost_note == NO_COST_CPU and rows[7].pixels == 256 * 256


def test_summary_row_on_an_unknown_gpu_has_no_cost(catalog):
    rec = all_records()[0].model_copy(update={"env": {"gpu_name": "NVIDIA Imaginary X1"}})
    row = summary_rows([rec], catalog)[0]
    assert (row.usd_per_1k_images, row.cost_note) == (None, NO_COST_NOT_IN_CATALOG)


def test_summary_row_falls_back_to_the_error_for_a_reason(catalog):
    rec = make_record(make_spec(), status="error", error=ErrorInfo(type="RuntimeError", message="boom"))
    assert summary_rows([rec], catalog)[0].reason == "RuntimeError: boom"


def test_environment_blocks_group_machines_and_order_keys():
    blocks = environment_blocks(all_records())
    assert [b.runs for b in blocks] == [7, 1]
    assert blocks[0].items[0] == ("gpu_name", "NVIDIA GeForce RTX 4090")
    assert [k for k, _ in blocks[0].items] == [
        "gpu_name",
        "driver_version",
        "torch_cuda_version",
        "torch_version",
        "diffusers_version",
        "transformers_version",
        "host",
    ]
    assert "gpu_name" not in dict(blocks[1].items)  # unknown (None) facts are left out
    assert blocks[1].weights == ("tiny",) and blocks[1].devices == ("cpu",)


def test_weight_notes_name_each_non_real_source():
    notes = weight_notes(all_records())
    assert len(notes) == 2 and notes[0].startswith("random weights") and notes[1].startswith("tiny weights")
    assert weight_notes([make_record(make_spec(weights="hub"))]) == []


def test_rental_rows_use_the_cheapest_price(catalog):
    rows = rental_rates(catalog, ["rtx4090", "not-a-gpu"])
    assert len(rows) == 1
    row = rows[0]
    # The command-line price wins: $0.36/h -> $8.64 a day and $1.44 for a 4-hour session.
    assert (row.usd_per_hour, row.usd_per_day, row.usd_per_session_4h, row.provider) == (0.36, 8.64, 1.44, "user")


def test_model_comparison_uses_default_gpus_when_no_record_ran_on_a_catalog_gpu(catalog):
    from bench.cost.guide import COMPARISON_DEFAULT_GPUS, model_comparison

    cpu_only = [r for r in all_records() if r.spec.device == "cpu"]
    (row,) = model_comparison(cpu_only, catalog)
    assert tuple(s.gpu_id for s in row.speed) == COMPARISON_DEFAULT_GPUS == ("rtx4090", "a100-80gb-sxm")
    # no full-size GPU run of the model: its registry defaults in fp16, not the tiny CPU run's 256x256/4/fp32
    assert (row.model, row.resolution, row.steps, row.dtype) == ("kandinsky-2.2", "512x512", 100, "fp16")
    assert all(s.source == "projected" for s in row.speed)  # a tiny CPU run measures no GPU cell

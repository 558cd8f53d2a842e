"""The deployment-guide tables answer the guide's questions, whatever the runs were."""

from __future__ import annotations

import pytest

from bench.cost.guide_workloads import GUIDE_MEMORY_OPTIONS, GUIDE_WORKLOADS, guide_estimates
from bench.cost.prices.book import price_book
from bench.cost.report_numbers import report_numbers
from bench.report.bundle import build_report
from tests.report.conftest import CATALOG, make_record, make_spec, ok_record

GPUS = ["rtx3060", "rtx4090", "a100-80gb-sxm"]
GUIDE_LABELS = [
    (model, "text2img", f"{side}x{side}", "50", "1", "fp16", memory)
    for model, side in (
        ("kandinsky-2.2", 512),
        ("kandinsky-2.2", 768),
        ("kandinsky-2.2", 1024),
        ("kandinsky-3", 512),
        ("kandinsky-3", 1024),
    )
    for memory in ("none", "model_cpu_offload", "sequential_cpu_offload", "attention_slicing")
]


def tiny_cpu_records():
    """The bundled default scenario's shape: tiny weights on the CPU, 64x64, 4 steps, fp32."""
    return [
        make_record(make_spec(model, 64, weights="tiny", device="cpu", dtype="fp32", steps=4), env={"gpu_name": None})
        for model in ("kandinsky-2.1", "kandinsky-2.2", "kandinsky-3")
    ]


@pytest.fixture(scope="module")
def tiny_report():
    records = tiny_cpu_records()
    return build_report(records, CATALOG, report_numbers(records, price_book(CATALOG), gpu_ids=GPUS)).data


def test_guide_workloads_are_the_guides():
    assert len(GUIDE_WORKLOADS) == 20 and len({name for name, _ in GUIDE_WORKLOADS}) == 20
    assert GUIDE_MEMORY_OPTIONS == ("none", "model_cpu_offload", "sequential_cpu_offload", "attention_slicing")
    labels = [
        (w.model, w.task, w.resolution, str(w.steps), str(w.batch_size), w.dtype, w.memory) for _, w in GUIDE_WORKLOADS
    ]
    assert labels == GUIDE_LABELS


def test_a_tiny_report_holds_exactly_the_guide_workloads(tiny_report):
    data = tiny_report
    assert [row.label for row in data.time.rows] == GUIDE_LABELS
    assert [row.label for row in data.cost.rows] == GUIDE_LABELS
    assert [row.label for row in data.vram] == GUIDE_LABELS
    assert data.time.gpu_ids == tuple(GPUS)
    # nothing of the tiny runs (64x64, 4 steps, fp32, Kandinsky 2.1) is projected
    assert not [p for p in data.points if "64x64" in p.workload or "fp32" in p.workload]
    assert {p.model for p in data.points} == {"kandinsky-2.2", "kandinsky-3"}
    cells = [c for row in (*data.time.rows, *data.cost.rows) for c in row.cells if c is not None]
    assert cells and all(c.source == "projected" for c in cells)
    assert all(v.source == "projected" for v in data.vram)
    # sequential offload streams weights: it needs less VRAM than keeping everything resident
    vram = {v.label: v.vram_needed_gb for v in data.vram}
    k3 = ("kandinsky-3", "text2img", "1024x1024", "50", "1", "fp16")
    assert vram[(*k3, "sequential_cpu_offload")] < vram[(*k3, "none")] == vram[(*k3, "attention_slicing")]


def test_the_model_comparison_uses_registry_defaults_for_tiny_runs(tiny_report):
    rows = tiny_report.models
    assert [(r.model, r.resolution, r.steps, r.dtype) for r in rows] == [
        ("kandinsky-2.1", "512x512", 100, "fp16"),
        ("kandinsky-2.2", "512x512", 100, "fp16"),
        ("kandinsky-3", "1024x1024", 25, "fp16"),
    ]


def test_a_full_size_gpu_record_measures_its_cell():
    k22_768 = ok_record("kandinsky-2.2", 768, 1.6, 1.7, 7900.0)  # random weights on an RTX 4090
    other = ok_record("kandinsky-2.2", 640, 1.2, 1.3, 7500.0)  # not a guide workload: it adds its own row
    records = [*tiny_cpu_records(), k22_768, other]
    data = build_report(records, CATALOG, report_numbers(records, price_book(CATALOG), gpu_ids=GPUS)).data
    rows = {(row.label[0], row.label[2], row.label[6]): row for row in data.time.rows}  # model, resolution, memory
    assert len(data.time.rows) == len(GUIDE_LABELS) + 1
    rtx = GPUS.index("rtx4090")
    guide_row = rows[("kandinsky-2.2", "768x768", "none")]
    cells = [(c.source, c.value) if c else None for c in guide_row.cells]
    assert cells[rtx] == ("measured", 1.6)
    assert all(c is not None and c[0] == "projected" for i, c in enumerate(cells) if i != rtx)
    offload = rows[("kandinsky-2.2", "768x768", "model_cpu_offload")].cells[rtx]
    assert offload is not None and offload.source == "projected"
    extra = rows[("kandinsky-2.2", "640x640", "none")].cells[rtx]
    assert extra is not None and (extra.source, extra.value) == ("measured", 1.2)
    vram = {v.label: v for v in data.vram}[guide_row.label]
    assert vram.source == "measured"


def test_cpu_records_on_a_gpu_machine_measure_nothing():
    """A CPU run's environment can name the machine's GPU; that GPU did not run it."""
    spec = make_spec("kandinsky-2.2", 768, device="cpu")  # random weights, but on the CPU
    rec = ok_record("kandinsky-2.2", 768, 30.0, 31.0, 7900.0).model_copy(update={"spec": spec})
    estimates = guide_estimates([rec], CATALOG, ["rtx4090"])
    assert len(estimates) == len(GUIDE_LABELS)
    assert all(e.source == "projected" and "calibrated" not in e.calibration for e in estimates)

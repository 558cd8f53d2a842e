"""One definition of a record's peak memory: the run table, the report, the baseline and the optimise ranking agree."""

from __future__ import annotations

import pytest

from bench.cli.commands_run import _peak_memory_text
from bench.compare.baseline import _row
from bench.optimise.ranking import rank
from bench.report.rows import summary_rows
from bench.results import MemoryStats
from bench.results.peak import PeakMemory, peak_memory
from tests.report.conftest import CATALOG, make_record, make_spec, ok_record

ALL = {"vram_used_peak_mb": 9000.0, "torch_reserved_peak_mb": 8000.0, "torch_allocated_peak_mb": 7000.0}


@pytest.mark.parametrize(
    ("device", "fields", "expected"),
    [
        ("cuda", {**ALL, "peak_rss_mb": 3000.0}, PeakMemory(9000.0, "VRAM", "device used (NVML)")),
        (
            "cuda",
            {"torch_reserved_peak_mb": 8000.0, "torch_allocated_peak_mb": 7000.0},
            PeakMemory(8000.0, "VRAM", "torch reserved"),
        ),
        (
            "cuda",
            {"torch_allocated_peak_mb": 7000.0, "peak_rss_mb": 3000.0},
            PeakMemory(7000.0, "VRAM", "torch allocated"),
        ),
        # a CPU run on a machine with a GPU: the device's counters are not this run's memory
        ("cpu", {**ALL, "peak_rss_mb": 812.0}, PeakMemory(812.0, "RSS", "process RSS")),
        ("cuda", {}, None),
    ],
)
def test_peak_memory_rule(device, fields, expected):
    record = make_record(make_spec(device=device), memory=MemoryStats(**fields))
    assert peak_memory(record) == expected


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_every_view_shows_the_same_peak(device):
    """``kbench run``'s table, the report's rows, the baseline and the optimise ranking read one rule."""
    base = ok_record("kandinsky-2-2", 768, 2.0, 2.2, 0.0)
    record = base.model_copy(
        update={"spec": make_spec(device=device), "memory": MemoryStats(**ALL, peak_rss_mb=3000.0)}
    )
    expected = peak_memory(record)
    assert expected is not None
    assert _peak_memory_text(record) == expected.text()
    (row,) = summary_rows([record], CATALOG)
    assert (row.peak_memory_mb, row.peak_memory_kind) == (expected.mb, expected.kind)
    (ranked,) = [r for r in rank([record], CATALOG) if r.status == "ok"]
    assert (ranked.peak_memory_mb, ranked.memory_kind) == (expected.mb, expected.kind)
    assert _row([record]).vram_peak_mb == (expected.mb if expected.kind == "VRAM" else None)

"""CSV of the summary table: raw numbers, every run, formula-safe text."""

from __future__ import annotations

import csv
import io

from bench.report.csv_writer import render_csv
from bench.report.rows import SUMMARY_COLUMNS, summary_rows
from tests.report.conftest import CATALOG, all_records, make_record, make_spec


def test_csv_has_every_run_with_raw_numbers():
    text = render_csv(summary_rows(all_records(), CATALOG))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert len(rows) == 8
    k3 = rows[4]
    assert (k3["model"], k3["resolution"], k3["status"]) == ("kandinsky-3", "1024x1024", "ok")
    assert float(k3["median_s_per_image"]) == 5.4 and float(k3["p90_s_per_image"]) == 5.9
    assert float(k3["peak_memory_mb"]) == 21500.0 and k3["peak_memory_kind"] == "VRAM"
    assert abs(float(k3["energy_j_per_image"]) - 1620.0) < 1e-9  # 5.4 s x 300 W
    oom = rows[5]
    assert oom["status"] == "oom" and oom["reason"].startswith("CUDA out of memory") and oom["median_s_per_image"] == ""
    cpu = rows[7]
    assert (cpu["device"], cpu["peak_memory_kind"], cpu["peak_memory_mb"]) == ("cpu", "RSS", "812.0")
    assert cpu["usd_per_1k_images"] == "" and cpu["cost_note"].startswith("CPU run")
    assert text.endswith("\r\n")


def test_csv_neutralises_formulas_in_text():
    rec = make_record(make_spec(scenario='=HYPERLINK("http://x")'), status="skipped", reason="+1 failed")
    row = next(csv.DictReader(io.StringIO(render_csv(summary_rows([rec], CATALOG)))))
    assert row["scenario"] == '\'=HYPERLINK("http://x")' and row["reason"] == "'+1 failed"

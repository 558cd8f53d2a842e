"""Markdown job summary: escaped user text, banner for non-real weights, failures listed, bounded length."""

from __future__ import annotations

from bench.cost.report_numbers import ReportNumbers
from bench.report.data import build_report_data
from bench.report.markdown import MAX_SUMMARY_ROWS, md_escape, render_markdown
from tests.report.conftest import all_records, make_record, make_spec


def test_md_escape_keeps_tables_and_html_inert():
    assert md_escape("a|b<script>*x*") == "a\\|b&lt;script&gt;\\*x\\*"
    assert md_escape("line\nbreak") == "line break"


def _data(records, catalog):
    return build_report_data(records, catalog, ReportNumbers(()), "smoke <b>")


def test_markdown_summary(catalog):
    md = render_markdown(_data(all_records(), catalog), "smoke.html")
    assert md.startswith("## smoke &lt;b&gt;\n")
    assert "> **Note:** random weights" in md and "> **Note:** tiny weights" in md
    assert (
        "| kandinsky-3 | text2img | en | 1024x1024 | 50 | 1 | fp16 | none | cuda | ok "
        "| 5.4 | 5.9 | 0.185 | 21,500 VRAM | 1,620 |" in md
    )
    assert "| 812 RSS |" in md
    assert "| **oom** | CUDA out of memory. Tried to allocate 4.00 GiB |" in md
    assert "needs accelerate &lt;1.0&gt; &amp; a GPU" in md
    assert "**NVIDIA GeForce RTX 4090**" in md
    assert "<script" not in md and "<img" not in md


def test_markdown_caps_long_tables(catalog):
    records = [
        make_record(make_spec(width=64 * (1 + i % 30), seed=i), status="skipped", reason="x") for i in range(100)
    ]
    md = render_markdown(_data(records, catalog), None)
    assert f"{100 - MAX_SUMMARY_ROWS} more runs not shown (see the HTML report)" in md

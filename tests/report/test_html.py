"""The HTML page: self-contained, escaped, every section and figure present, deterministic."""

from __future__ import annotations

import re

from bench.cost.prices.book import price_book
from bench.cost.report_numbers import report_numbers
from bench.report.bundle import build_report
from bench.report.html import SORT_FILTER_SCRIPT, csp_hash
from bench.results import read_results

FIGURE_KEYS = ("latency", "stages", "timeline", "cost_gpu", "pareto")


def _html(results_file, catalog) -> str:
    records = read_results([results_file])
    return build_report(records, catalog, report_numbers(records, price_book(catalog)), title="smoke <report>").html


def test_user_text_is_escaped_never_markup(results_file, catalog):
    html = _html(results_file, catalog)
    assert "<script>window.__xss" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;smoke" in html
    assert "&lt;img src=x onerror=&#34;window.__xss = 2&#34;&gt;blurry" in html
    assert "needs accelerate &lt;1.0&gt; &amp; a GPU" in html
    assert "<title>smoke &lt;report&gt;</title>" in html


def test_only_the_sorter_script_runs_and_nothing_loads_from_outside(results_file, catalog):
    html = _html(results_file, catalog)
    assert html.count("<script") == 1
    assert f"script-src {csp_hash(SORT_FILTER_SCRIPT)};" in html and "default-src 'none'" in html
    assert f"<script>{SORT_FILTER_SCRIPT}</script>" in html  # the hash covers exactly what is in the tag
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?(?:https?:|//)""", html)
    assert "@import" not in html and "@font-face" not in html


def test_every_section_and_figure_is_present(results_file, catalog):
    html = _html(results_file, catalog)
    for key in FIGURE_KEYS:
        figure = re.search(rf'<figure id="fig-{key}">(.*?)</figure>', html, re.S)
        assert figure and "<svg " in figure.group(1), key
    for table_id in ("summary", "failed-runs", "guide-time", "guide-vram", "guide-rental", "guide-cost"):
        assert f'<table id="{table_id}">' in html, table_id
    assert "Not the real weights.</strong> random weights" in html
    assert "Not the real weights.</strong> tiny weights" in html
    assert "<dt>gpu_name</dt><dd>NVIDIA GeForce RTX 4090</dd>" in html


def test_summary_rows_carry_sortable_values(results_file, catalog):
    html = _html(results_file, catalog)
    body = html.split('<table id="summary">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr data-status=\"(\w+)\"", body)
    assert rows == ["ok"] * 5 + ["oom", "skipped", "ok"]
    assert '<td class="n" data-v="5.4">5.4</td><td class="n" data-v="5.9">5.9</td>' in body
    assert 'data-v="812.0">812 <abbr title="process resident memory (CPU run)">RSS</abbr>' in body


def test_report_is_deterministic(results_file, catalog):
    assert _html(results_file, catalog) == _html(results_file, catalog)


def test_model_comparison_section_marks_measured_and_projected_cells(results_file, catalog):
    html = _html(results_file, catalog)
    table = html.split('<table id="model-comparison">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(.*?)</td>", table)
    assert rows == ["Kandinsky 2.2", "Kandinsky 3"]  # only the models in the records, in record order
    k22 = table.split("<tr><td>Kandinsky 2.2</td>", 1)[1].split("</tr>", 1)[0]
    # the GPU the records ran on; 0.9 s measured there at $0.36/h -> 0.9 x 0.36 / 3.6 = $0.09 per 1000 images
    assert "<th>GeForce RTX 4090 s / image</th>" in table
    assert '<td class="n" title="measured; memory none; measured on rtx4090 (1 record)">0.9</td>' in k22
    assert '<td class="n" title="measured; user (override), $0.360/h' in k22 and ">0.09</td>" in k22
    vram = re.findall(r'<td class="(n(?: p)?)" title="(measured|projected)">', k22)
    assert vram == [("n", "measured"), ("n p", "projected"), ("n p", "projected")]  # none / model / sequential
    assert k22.endswith("<td>text2img, img2img, inpaint, outpaint, mix</td><td>no</td><td>no</td><td>no</td>")
    assert "<li>languages kandinsky-3: https://huggingface.co/kandinsky-community/kandinsky-3" in html


def test_every_table_scrolls_inside_its_own_box(results_file, catalog):
    html = _html(results_file, catalog)
    tables = re.findall(r'(.{0,20})<table id="([\w-]+)">', html, re.S)
    assert len(tables) == 8
    assert all(before.endswith('<div class="wrap">\n') for before, _ in tables), tables
    assert ".wrap{overflow-x:auto" in html

"""``kbench report`` as a user runs it: a real subprocess writing real files."""

from __future__ import annotations

import csv
import io

from tests.conftest import run_kbench


def test_report_writes_html_markdown_and_csv(results_file, tmp_path):
    out = tmp_path / "reports" / "smoke"
    proc = run_kbench(
        "report",
        str(results_file),
        "-o",
        str(out),
        "--price",
        "rtx4090=0.36",
        "--gpu",
        "rtx4090",
        "--gpu",
        "a100-80gb-sxm",
    )
    assert proc.returncode == 0, proc.stderr
    paths = [out.with_name("smoke" + s) for s in (".html", ".md", ".csv")]
    assert proc.stdout.split() == [str(p) for p in paths]
    html, md, text = (p.read_text(encoding="utf-8") for p in paths)
    assert "<svg " in html and md.startswith("## kandinsky-bench: smoke\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["status"] for r in rows] == ["ok"] * 5 + ["oom", "skipped", "ok"]
    # Measured on the RTX 4090 at the $0.36/h given on the command line: 1000 x 2.4 s x 0.36 / 3600 s = $0.24.
    assert abs(float(rows[2]["usd_per_1k_images"]) - 0.24) < 1e-9
    # Only the two requested GPUs are projected onto.
    guide = html.split('<table id="guide-rental">', 1)[1].split("</table>", 1)[0]
    assert guide.count("<tr>") == 3  # header + 2 GPUs
    assert not list(tmp_path.rglob("*.tmp"))


def test_default_output_name_comes_from_the_results_file(results_file, tmp_path):
    proc = run_kbench("report", str(results_file), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    html = tmp_path / "reports" / "smoke.html"
    assert html.is_file()
    html.write_text("kept", encoding="utf-8")
    again = run_kbench("report", str(results_file), cwd=tmp_path)
    assert again.returncode == 2 and "a report of this name exists; --force replaces it" in again.stderr
    assert html.read_text(encoding="utf-8") == "kept"  # never replaced without being asked
    assert run_kbench("report", str(results_file), "--force", cwd=tmp_path).returncode == 0
    assert html.read_text(encoding="utf-8") != "kept"


def test_bad_input_is_one_line_and_exit_2(results_file, tmp_path):
    cases = [
        (("report", str(results_file), "--price", "rtx4090"), "--price: expected GPU_ID=USD_PER_HOUR"),
        (("report", str(results_file), "--gpu", "nope"), "unknown GPU 'nope'"),
        (("report", str(tmp_path / "missing.jsonl")), "missing.jsonl: results file not found"),
    ]
    for args, message in cases:
        proc = run_kbench(*args, "-o", str(tmp_path / "r"))
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "r.html").exists()

"""``kbench run`` end to end as a user runs it: a real subprocess in a fresh working directory."""

from __future__ import annotations

import csv
import os

import pytest

from bench.measure.lifeline import PARENT_ENV
from bench.results import read_results
from tests.conftest import REPO, run_kbench

SCENARIO = """\
scenarios:
  - name: e2e
    models: [kandinsky-2.2, kandinsky-3]
    weights: tiny
    device: cpu
    dtypes: [fp32]
    resolutions: [64x64]
    steps: 2
    prior_steps: 2
    warmup: 0
    repeats: 2
"""


@pytest.mark.slow
def test_run_writes_results_images_and_report(tmp_path, write_yaml):
    scenario = write_yaml(SCENARIO)
    proc = run_kbench("run", str(scenario), "-o", "out.jsonl", "--save-images", "images", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "results: out.jsonl (2 run(s)" in proc.stdout
    assert "report: reports/out.html, reports/out.md, reports/out.csv" in proc.stdout
    # the last line: tiny weights say nothing about a real model's cost, and what to run for that
    *_, note, command = proc.stdout.rstrip().splitlines()
    assert note.startswith("note: tiny weights time the pipeline, not the real model")
    assert command.startswith("  kbench recommend --model ")  # on a line of its own: whole, to copy
    assert "kbench recommend --model kandinsky-2.2 --resolution 64x64 --memory auto" in proc.stdout
    records = read_results([tmp_path / "out.jsonl"])
    assert [(r.spec.model, r.status) for r in records] == [("kandinsky-2.2", "ok"), ("kandinsky-3", "ok")]
    assert all(r.env["scenario_file"] == "scenario.yaml" for r in records)  # relative to the working directory
    pngs = sorted(p.name for p in (tmp_path / "images").glob("*.png"))
    assert len(pngs) == 2 and pngs[0].startswith("kandinsky-2.2_text2img_64x64")
    with open(tmp_path / "reports" / "out.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["model"] for row in rows] == ["kandinsky-2.2", "kandinsky-3"]
    assert (tmp_path / "reports" / "out.html").read_text(encoding="utf-8").count("<svg") >= 3


def test_failed_run_exits_3_and_keeps_results(tmp_path, write_yaml):
    """Every child dies at once, before torch loads (a ``sitecustomize`` that exits in processes started by a
    sweep): the command's handling of failed runs is what is tested; how runs fail is tested in the runner's."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"import os\nif os.environ.get({PARENT_ENV!r}):\n    os._exit(7)\n")
    env = {"PYTHONPATH": f"{site}{os.pathsep}{REPO}"}
    scenario = write_yaml(SCENARIO)
    proc = run_kbench("run", str(scenario), "-o", "out.jsonl", "--no-report", cwd=tmp_path, env=env)
    assert proc.returncode == 3, proc.stderr
    assert "run(s) failed" in proc.stderr
    records = read_results([tmp_path / "out.jsonl"])
    assert [r.status for r in records] == ["error", "error"]
    assert all("exited with code 7" in (r.reason or "") for r in records)
    allowed = run_kbench(
        "run", str(scenario), "-o", "again.jsonl", "--no-report", "--allow-failures", cwd=tmp_path, env=env
    )
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--bogus"], "No such option: --bogus"),
        (["run", "--timeout", "-3"], "Invalid value for '--timeout'"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
        (["recommend", "--model", "kandinsky-3", "--resolution", "1000x1000"], "multiples of 64"),
        (["report", "missing.jsonl"], "missing.jsonl: results file not found"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, needle):
    proc = run_kbench(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("kbench: error: ")
    assert "Traceback" not in proc.stderr

"""``--json`` on every command that prints a table: stdout is one JSON document and nothing else.

The ``kbench-output/1`` documents (models, history, baseline show, optimise-report, sky collect; sky plan is in
test_cli_widths.py, where its model is already counted) are validated against ``bench/data/output.schema.json``;
``compare`` and ``ab`` print their ``kbench-compare/1`` document, the one ``--json-out FILE`` writes. Inputs are
real results files: the committed example results and records written by the results writer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from bench.cli import main
from bench.cli.json_doc import schema_path
from bench.models.registry import MODELS
from bench.results import append_record, read_results
from tests.history.test_history import _commit, _records, _write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "reports" / "example" / "default.jsonl"
VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))


def _doc(capsys, *args: str, code: int = 0) -> dict:
    assert main([*args, "--json"]) == code
    out = capsys.readouterr().out
    doc = json.loads(out)  # the whole of stdout: one document, no table before or after it
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    return doc


def test_models_lists_the_registry(capsys):
    doc = _doc(capsys, "models")
    assert doc["command"] == "models" and [r["id"] for r in doc["rows"]] == list(MODELS)
    k3 = next(r for r in doc["rows"] if r["id"] == "kandinsky-3")
    assert k3["default_resolution"] == "1024x1024" and k3["tasks"] == ["text2img", "img2img"]


def test_baseline_show_carries_its_runs_and_where_they_came_from(tmp_path, capsys):
    baseline = tmp_path / "baseline.jsonl"
    assert main(["baseline", "save", str(EXAMPLE), "--to", str(baseline)]) == 0
    capsys.readouterr()
    doc = _doc(capsys, "baseline", "show", str(baseline))
    keys = {r.run_key for r in read_results([EXAMPLE])}
    assert {r["run_key"] for r in doc["rows"]} == keys
    row = doc["rows"][0]
    assert row["median_s_per_image"]["label"] == "measured" and row["median_s_per_image"]["value"] > 0
    assert doc["source"]["path"] == str(baseline) and doc["source"]["sources"] and doc["source"]["created_at"]


def test_history_finds_the_step_and_still_exits_1(tmp_path, capsys):
    values = 0.2 * np.exp(np.random.default_rng(11).normal(0.0, 0.05, 40))
    values[34:] *= 1.3
    slow = _write(tmp_path / "slow.jsonl", _records(values, seed=1))
    doc = _doc(capsys, "history", str(slow), "--fail-on-new-step", code=1)  # the verdict is the exit code
    (series,) = doc["rows"]
    assert len(series["points"]) == 40 and series["new_regression"] is True
    (step,) = series["steps"]
    assert step["commit"] == _commit(step["index"]) and 30 <= step["index"] <= 36
    assert 1.15 < step["change"]["value"] < 1.45 and step["after"]["unit"] == "s/image"


def test_optimise_report_ranks_each_cell(capsys):
    doc = _doc(capsys, "optimise-report", str(EXAMPLE), "--gpu", "rtx4090")
    assert len(doc["rows"]) == len(read_results([EXAMPLE])) and doc["query"]["gpu"] == "rtx4090"
    row = doc["rows"][0]
    assert row["setting"] == "baseline" and row["speedup"]["value"] == 1.0
    assert row["usd_per_1k_images"]["value"] > 0 and row["session_images"] == 1000
    assert any("noise" in n.lower() for n in doc["notes"])


def test_sky_collect(tmp_path, capsys):
    returned = tmp_path / "plan" / "results"
    returned.mkdir(parents=True)
    shutil.copy(EXAMPLE, returned / "x-rtx4090.jsonl")
    merged = tmp_path / "merged.jsonl"
    doc = _doc(capsys, "sky", "collect", str(tmp_path / "plan"), "--out", str(merged))
    (row,) = doc["rows"]
    assert row["file"] == "results/x-rtx4090.jsonl" and row["records"] == len(read_results([EXAMPLE]))
    assert len(read_results([merged])) == row["records"] and any(n.startswith("merged:") for n in doc["notes"])


def test_compare_json_is_the_json_out_document(tmp_path, capsys):
    written = tmp_path / "c.json"
    md = tmp_path / "c.md"
    assert (
        main(["compare", str(EXAMPLE), str(EXAMPLE), "--json", "--json-out", str(written), "--markdown", str(md)]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(written.read_text(encoding="utf-8"))
    assert printed["schema"] == "kbench-compare/1" and printed["regression"] is False
    assert md.read_text(encoding="utf-8").startswith("## kbench compare")  # the old spelling still writes it


def test_ab_recompare_json(tmp_path, capsys):
    results = tmp_path / "ab.jsonl"
    for record in read_results([EXAMPLE]):
        for side in ("base", "head"):
            append_record(results, record.model_copy(update={"side": side, "ab_round": 1}))
    assert main(["ab", "--recompare", str(results), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "kbench-compare/1" and doc["ab"]["rounds"] == 1 and doc["regression"] is False


@pytest.mark.parametrize("args", [["compare", str(EXAMPLE), str(EXAMPLE)], ["history", str(EXAMPLE)]])
def test_without_json_the_table_is_printed(args, capsys):
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out and not out.lstrip().startswith("{")


RUN_SCENARIO = """\
name: json
defaults: {weights: tiny, device: cpu, dtypes: [fp32], resolutions: [64x64], steps: 2, warmup: 0, repeats: 2}
scenarios:
  - name: k22
    models: [kandinsky-2.2]
    tasks: [text2img]
"""


def test_run_prints_its_runs_and_files_and_keeps_progress_on_stderr(capsys, tmp_path):
    """``kbench run --json``: one real run; stdout is the document, every other line went to stderr."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(RUN_SCENARIO, encoding="utf-8")
    out = tmp_path / "r.jsonl"
    assert main(["run", str(scenario), "--out", str(out), "--no-report", "--json"]) == 0  # the report: elsewhere
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # the whole of stdout: one document
    assert not sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert doc["command"] == "run" and doc["query"]["results"] == str(out)
    assert doc["query"]["report"] == []
    (row,) = doc["rows"]
    assert (row["model"], row["status"], row["samples"]) == ("kandinsky-2.2", "ok", 2)
    assert row["s_per_image"]["label"] == "measured" and row["s_per_image"]["value"] > 0
    assert row["run_key"] == read_results([out])[0].run_key
    assert "tiny weights time the pipeline" in doc["notes"][0]
    assert "[1/1] ok:" in captured.err and "results: " in captured.err  # progress and closing lines on stderr

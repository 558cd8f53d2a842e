"""Every table fits the terminal: 100 columns here (URLs in footnotes excepted), and --wide leaves nothing out."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from bench.cli import main
from bench.cli.json_doc import schema_path

VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))

EXAMPLE = Path(__file__).resolve().parents[1] / "reports" / "example" / "default.jsonl"
COMMANDS = {
    "recommend": ["recommend", "--model", "kandinsky-3", "--resolution", "1024x1024", "--session-images", "500"],
    "gpus": ["gpus"],
    "prices-show": ["prices", "show"],
    "cost": ["cost", str(EXAMPLE), "--session-images", "100"],
    "flops": ["flops", "--model", "kandinsky-2.2", "--model", "kandinsky-3"],
    "compare-models": ["compare-models", "--gpu", "rtx4090", "--gpu", "a100-80gb-sxm", "--model", "kandinsky-3"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_tables_fit_the_terminal_and_wide_shows_every_column(name, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    assert main(COMMANDS[name]) == 0
    lines = capsys.readouterr().out.splitlines()
    over = [line for line in lines if len(line) > 100 and not line.lstrip().startswith(("http://", "https://"))]
    assert over == [], over[:3]
    assert main(["--wide", *COMMANDS[name]]) == 0
    wide = capsys.readouterr().out
    assert "left out to fit" not in wide and "…" not in wide  # nothing dropped or cut under --wide


# The commands above have counted kandinsky-2.2 and kandinsky-3 in this process: the tests below, which need
# those counts again, take well under a second here instead of a fresh count's ten.


def test_progress_goes_to_stderr_and_json_stays_one_document(monkeypatch, capsys):
    monkeypatch.setattr("bench.cli.progress.DELAY_S", 0.0)  # every stage at once: no waiting on a clock
    assert main(["--progress", "flops", "--model", "kandinsky-2.2", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["command"] == "flops"
    assert "kbench flops: counting kandinsky-2.2 512x512 (1/1) on the meta device" in err
    assert main(["--no-progress", "compare-models", "--gpu", "rtx4090", "--model", "kandinsky-3", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["rows"] and "counting" not in err  # --no-progress: never


def test_sky_plan_json_projects_each_candidate(tmp_path, write_yaml, capsys):
    scenario = write_yaml("name: k3\nweights: random\ndevice: cuda\nmodels: [kandinsky-3]\nresolutions: [1024x1024]\n")
    out = tmp_path / "plan"
    assert (
        main(["sky", "plan", str(scenario), "--gpu", "rtx4090", "--gpu", "a100-80gb-sxm", "--out", str(out), "--json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert not list(VALIDATOR.iter_errors(doc))
    rows = {r["gpu"]: r for r in doc["rows"]}
    assert set(rows) == {"rtx4090", "a100-80gb-sxm"} and all(Path(r["task_file"]).is_file() for r in rows.values())
    a100 = rows["a100-80gb-sxm"]
    assert a100["accelerator"] == "A100-80GB:1" and a100["minutes"]["label"] == "projected"
    low, high = a100["minutes"]["interval"]
    assert low <= a100["minutes"]["value"] <= high and a100["minutes"]["value"] > a100["setup"]["value"]
    assert a100["usd"]["value"] == pytest.approx(a100["minutes"]["value"] / 60 * a100["usd_per_hour"]["value"])
    assert rows["rtx4090"]["oom_runs"] == 1  # Kandinsky 3 at fp16 does not fit 24 GB without offload

"""``kbench projection-check`` on small datasets of the bundled rows: ``--json`` is one schema-valid document,
``--vram`` adds the peak-memory table, and every line fits 100 columns (URLs in footnotes excepted)."""

from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest

from bench.cli import main
from bench.cli.json_doc import schema_path
from bench.cost.catalog import load_catalog
from bench.cost.timings import load_timings, load_vram

CAT = load_catalog()
VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))
# SD 1.5 steps on three GPUs (fitted), and the SD 1.5 fp32 run with TF32 matmuls (a check row): quick to count
TIMING_IDS = (
    "diffusers-pt2-sd15-rtx4090-b1",
    "diffusers-pt2-sd15-rtx3090-b1",
    "diffusers-pt2-sd15-a100-40gb-pcie-b1",
    "diffusion-fast-sd15-a100-80gb-fp32-tf32",
)
VRAM_IDS = ("diffusion-fast-sd15-a100-80gb-fp32",)


def _yaml(rows: list) -> str:
    lines = []
    for row in rows:
        data = row.model_dump(exclude_none=True)
        lines += [f"- id: {data.pop('id')}", *(f"  {k}: {json.dumps(v)}" for k, v in data.items())]
    return "rows:\n" + textwrap.indent("\n".join(lines), "  ") + "\n"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("datasets")
    timings, vram = folder / "timings.yaml", folder / "vram.yaml"
    timings.write_text(_yaml([r for r in load_timings(CAT) if r.id in TIMING_IDS]), encoding="utf-8")
    vram.write_text(_yaml([r for r in load_vram(CAT) if r.id in VRAM_IDS]), encoding="utf-8")
    return timings, vram


def test_json_is_one_document_with_rows_cross_validation_coverage_and_vram(datasets, capsys):
    timings, vram = datasets
    assert main(["projection-check", "--timings", str(timings), "--vram-data", str(vram), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)  # the whole of stdout
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    assert doc["command"] == "projection-check" and [r["id"] for r in doc["rows"]] == list(TIMING_IDS)
    tf32 = doc["rows"][-1]
    assert tf32["tf32"] is True and tf32["use"] == "check" and tf32["source"].startswith("https://")
    assert tf32["published_s"] == {"value": 1.617, "unit": "s", "label": "measured"}
    assert tf32["projected_s"]["label"] == "projected" and tf32["projected_s"]["value"] > 0
    assert tf32["cv_gpu_error"]["value"] is None  # not fitted, so never held out
    assert doc["cross_validation"]["overall"]["leave-one-GPU-out"]["rows"] == len(TIMING_IDS) - 1
    assert set(doc["cross_validation"]["model_family"]) == {"sd"} and "sd" in doc["coverage"]["model_family"]
    (peak,) = doc["vram"]
    assert peak["id"] == VRAM_IDS[0] and peak["basis"] == "allocated" and peak["published"]["value"] == 4.948
    assert peak["estimated"]["label"] == "projected" and abs(peak["error"]["value"]) < 0.2


def test_the_report_and_its_vram_table_fit_100_columns(datasets, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    timings, vram = datasets
    assert main(["projection-check", "--timings", str(timings), "--vram-data", str(vram)]) == 0
    out = capsys.readouterr().out
    over = [line for line in out.splitlines() if len(line) > 100 and not line.lstrip().startswith("https://")]
    assert not over, over
    assert "Peak VRAM: estimated against 1 published peaks" in out and "call tf32" in out
    assert "Interval coverage of held-out rows" in out and "deployment guide" not in out
    fitted = out.split("Fitted rows")[1].split("\n\n")[0]
    assert "published s" in fitted and "projected s" in fitted  # cut columns are the labels, never the figures

"""Every ``--json`` command prints one document that validates against ``bench/data/output.schema.json``."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from bench.cli import main
from bench.cli.json_doc import schema_path
from bench.cost.prices.cache import Offer, merge_refresh, save_price_cache
from bench.results import append_record

from .. import make_record

SCHEMA = json.loads(schema_path().read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _cache(path) -> None:
    now = "2026-12-01T00:00:00Z"
    offers = [
        Offer(provider="runpod", instance="NVIDIA GeForce RTX 4090", region="US", gpu_id="rtx4090", gpu_name="RTX4090",
              gpu_memory_gb=24, gpu_count=2, usd_per_hour=0.9, spot=False, tier="on-demand", fetched_at=now),
        Offer(provider="aws", instance="p5.48xlarge", region="us-east-1", gpu_id="h100-sxm", gpu_name="H100",
              gpu_memory_gb=80, gpu_count=8, usd_per_hour=40.0, spot=True, tier="spot", fetched_at=now,
              assumption="H100 80GB without 'pcie' in the instance name assumed SXM"),
    ]  # fmt: skip
    fetched = {"runpod": offers[:1], "aws": offers[1:]}
    save_price_cache(merge_refresh(None, fetched, {}, refreshed_at=now, source="gpuhunt test", unmapped={}), path)


def run_json(capsys, *args: str) -> dict:
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    return doc


def test_recommend_json_validates_and_carries_units_labels_and_price_provenance(price_cache, capsys):
    _cache(price_cache)
    doc = run_json(
        capsys, "recommend", "--model", "kandinsky-2.2", "--gpu", "rtx4090", "--gpu", "h100-sxm",
        "--gpu", "a100-80gb-sxm", "--session-images", "100",
    )  # fmt: skip
    assert (
        doc["command"] == "recommend" and doc["query"]["memory"] == "auto" and doc["query"]["session"] == "100 images"
    )
    row = next(r for r in doc["rows"] if r["gpu"]["id"] == "rtx4090")
    assert row["s_per_image"]["unit"] == "s/image" and row["s_per_image"]["label"] == "projected"
    assert row["price"]["provider"] == "runpod" and row["price"]["usd_per_gpu_hour"]["value"] == pytest.approx(0.45)
    assert row["session"]["images"] == 100 and row["session"]["billing"]["increment_s"] == 60
    h100 = next(r for r in doc["rows"] if r["gpu"]["id"] == "h100-sxm")
    assert h100["price"]["origin"] == "catalog" and h100["spot"]["price"]["usd_per_gpu_hour"]["value"] == 5.0


def test_cost_gpus_prices_compare_models_and_flops_json_validate(price_cache, tmp_path, capsys):
    _cache(price_cache)
    results = tmp_path / "r.jsonl"
    append_record(results, make_record(median_s=10.0, load_s=60.0, energy_j=1800.0))
    cost = run_json(capsys, "cost", str(results), "--session-hours", "1")
    assert cost["rows"][0]["price"]["provider"] == "runpod" and cost["rows"][0]["session"]["images"] > 0
    gpus = run_json(capsys, "gpus")
    assert {r["id"] for r in gpus["rows"]} >= {"rtx4090", "h100-sxm"}
    shown = run_json(capsys, "prices", "show", "--gpu", "h100-sxm")
    assert shown["rows"][0]["usd_per_gpu_hour"]["value"] == 5.0 and shown["rows"][0]["assumption"]
    models = run_json(capsys, "compare-models", "--gpu", "rtx4090", "--model", "kandinsky-2.2")
    assert models["rows"][0]["speed"][0]["price"]["provider"] == "runpod"
    flops = run_json(capsys, "flops", "--model", "kandinsky-2.2")
    assert flops["rows"][0]["total_tflops"]["label"] == "counted"


def test_the_schema_rejects_a_number_without_unit_and_a_price_without_source(price_cache, capsys):
    _cache(price_cache)
    doc = run_json(capsys, "gpus")
    unitless = copy.deepcopy(doc)
    unitless["rows"][0]["vram"] = 24
    assert not VALIDATOR.is_valid(unitless)
    sourceless = copy.deepcopy(doc)
    del next(r for r in sourceless["rows"] if r["price"])["price"]["source"]
    assert not VALIDATOR.is_valid(sourceless)

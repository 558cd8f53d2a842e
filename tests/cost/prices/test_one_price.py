"""One GPU, one price: with one price cache and one ``--price`` override, every command that shows a dollar
shows the same $/GPU-hour for the GPUs they share, since each reads the one price book."""

from __future__ import annotations

import pytest

from bench.cli.serve_run import slo_pricer
from bench.cost.prices.book import load_price_book
from bench.results import append_record
from tests.factories import tiny_spec

from .. import make_record
from .test_json_output import _cache, run_json

OVERRIDE = 3.21  # $/h for the H100 SXM, given on the command line
EXPECTED = {"rtx4090": 0.45, "h100-sxm": OVERRIDE}  # live offer: 0.90 for a 2-GPU instance; the override


def _hourly(price: dict) -> float:
    return price["usd_per_gpu_hour"]["value"]


def test_every_command_shows_the_same_hourly_price(price_cache, tmp_path, capsys):
    _cache(price_cache)
    override = ["--price", f"h100-sxm={OVERRIDE}"]
    gpus = ["--gpu", "rtx4090", "--gpu", "h100-sxm"]
    shown: dict[str, dict[str, float]] = {}
    doc = run_json(capsys, "recommend", "--model", "kandinsky-2.2", *gpus, *override)
    shown["recommend"] = {r["gpu"]["id"]: _hourly(r["price"]) for r in doc["rows"]}
    doc = run_json(capsys, "gpus", *override)
    shown["gpus"] = {r["id"]: _hourly(r["price"]) for r in doc["rows"] if r["id"] in EXPECTED}
    doc = run_json(capsys, "compare-models", "--model", "kandinsky-2.2", *gpus, *override)
    shown["compare-models"] = {s["gpu_id"]: _hourly(s["price"]) for s in doc["rows"][0]["speed"]}
    results = tmp_path / "r.jsonl"
    append_record(results, make_record(gpu_name="NVIDIA GeForce RTX 4090"))
    append_record(results, make_record(gpu_name="NVIDIA H100 80GB HBM3", model="kandinsky-3"))
    doc = run_json(capsys, "cost", str(results), *override)
    shown["cost"] = {r["gpu"]["id"]: _hourly(r["price"]) for r in doc["rows"]}
    book = load_price_book(None, [f"h100-sxm={OVERRIDE}"])
    price = slo_pricer(book)
    served = {
        gpu: price(tiny_spec(), {"gpu_name": name}, 2.0)
        for gpu, name in (("rtx4090", "NVIDIA GeForce RTX 4090"), ("h100-sxm", "NVIDIA H100 80GB HBM3"))
    }
    shown["serving"] = {gpu: p.usd_per_hour for gpu, p in served.items() if p is not None}
    for command, hourly in shown.items():
        assert hourly == pytest.approx(EXPECTED), command
    assert served["rtx4090"] is not None and served["rtx4090"].usd_per_image == pytest.approx(0.45 / 3600 / 2)

"""``kbench recommend --slo-p99``: GPUs ranked by $ per image at a latency SLO, from the serving simulator."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest

from bench.cli import main
from bench.cli.json_doc import schema_path
from bench.cost.serving.exact import md1_latency_quantile

VALIDATOR = jsonschema.Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))
BASE = ["recommend", "--model", "kandinsky-2.2", "--steps", "30", "--no-guide-vram"]  # counts shared with other tests
GPUS = ["--gpu", "rtx4090", "--gpu", "h100-sxm", "--gpu", "a100-80gb-sxm", "--gpu", "l4"]


def run_json(capsys, *args: str, gpus: list[str] = GPUS) -> dict:
    assert main([*BASE, *gpus, *args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in VALIDATOR.iter_errors(doc)]
    assert not errors, errors[:5]
    return doc


def test_rate_auto_ranks_by_dollars_per_image_at_the_slo(capsys):
    doc = run_json(capsys, "--slo-p99", "5", "--rate", "auto")
    assert doc["query"]["slo_p99_s"] == 5 and doc["query"]["rate"] == "auto"
    served = [r for r in doc["rows"] if r["serving"]["meets_slo"]]
    assert len(served) >= 3
    usd = [r["serving"]["usd_per_1k_images_at_slo"]["value"] for r in served]
    ranking = [(r["price"]["stale"], u) for r, u in zip(served, usd, strict=True)]
    assert ranking == sorted(ranking)  # cheapest first; GPUs with only stale prices after the others
    for r in served:
        s = r["serving"]
        rate, price = s["max_rate_at_slo"]["value"], r["price"]["usd_per_gpu_hour"]["value"]
        assert usd[served.index(r)] == pytest.approx(1000 * price / (3600 * rate))  # $/h / (3600 x max rate)
        assert 0 < rate <= s["saturation_rate"]["value"] * (1 + 1e-9)
        low, high = s["max_rate_at_slo"]["interval"]
        assert low <= rate <= high  # the simulation at the projection's slow and fast ends
        assert s["replicas"] == 1 and s["p99_at_target"]["value"] <= 5
        one_call = r["s_per_image"]["value"]
        assert s["service_s_per_call"] == {"1": pytest.approx(one_call)}


def test_a_slo_no_gpu_can_meet_lists_each_with_its_reason(capsys):
    assert main([*BASE, *GPUS, "--slo-p99", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "served at p99 <= 0.05 s" in out
    for gpu in ("rtx4090", "h100-sxm", "a100-80gb-sxm", "l4"):
        assert f"{gpu}: cannot meet p99 <= 0.05 s: one request alone takes" in out
    assert not [line for line in out.splitlines() if line[:2].strip().isdigit()]  # nothing ranked


def test_a_target_rate_gets_the_replicas_it_needs(capsys):
    doc = run_json(capsys, "--slo-p99", "5", "--rate", "3")
    for r in (r for r in doc["rows"] if r["serving"]["meets_slo"]):
        s = r["serving"]
        assert s["target_rate"]["value"] == 3
        assert s["replicas"] >= math.ceil(3 / s["saturation_rate"]["value"] - 1e-9)
        assert s["p99_at_target"]["value"] <= 5
        price = r["price"]["usd_per_gpu_hour"]["value"]
        assert s["fleet_usd_per_1k_images"]["value"] == pytest.approx(1000 * s["replicas"] * price / (3600 * 3))


def test_dynamic_batching_fits_the_batch_sizes_between(capsys):
    doc = run_json(capsys, "--slo-p99", "5", "--max-batch", "4", gpus=["--gpu", "h100-sxm"])
    (row,) = [r for r in doc["rows"] if r["gpu"]["id"] == "h100-sxm"]
    s = row["serving"]
    assert sorted(s["service_s_per_call"]) == ["1", "2", "3", "4"]
    assert "batch 2, 3 from t(b)" in s["service_note"]
    one = s["service_s_per_call"]["1"]
    assert s["saturation_rate"]["value"] > 1.0 / one  # a batch of 4 serves more per second than one call


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slo-p99", "0"], "--slo-p99: must be seconds > 0"),
        (["--slo-p99", "-3"], "--slo-p99: must be seconds > 0"),
        (["--slo-p99", "nan"], "is not a finite number"),
        (["--slo-p99", "20", "--rate", "fast"], "--rate: must be 'auto' or requests per second > 0"),
        (["--slo-p99", "20", "--rate", "0"], "--rate: must be 'auto' or requests per second > 0"),
        (["--slo-p99", "20", "--max-batch", "0"], "--max-batch: must be 1..64"),
        (["--slo-p99", "20", "--arrivals", "burst"], "--arrivals: must be poisson or constant"),
        (["--slo-p99", "20", "--batch", "2"], "--batch: with --slo-p99 each request is one image"),
        (["--rate", "1"], "--rate and --max-batch: only with --slo-p99"),
    ],
)
def test_invalid_serving_options_are_one_line_and_exit_2(capsys, args, message):
    assert main([*BASE, *GPUS, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("kbench: error: ")
    assert message in captured.err


def test_the_reported_max_rates_meet_the_slo_by_the_exact_md1_p99(capsys):
    """The issue's command: every GPU's max rate is M/D/1's exact answer, whose p99 is the SLO within 1%."""
    args = ["recommend", "--model", "kandinsky-3", "--resolution", "1024x1024", "--steps", "30", "--no-guide-vram"]
    assert main([*args, "--slo-p99", "20", "--rate", "auto", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    served = [r for r in doc["rows"] if r["serving"]["meets_slo"]]
    assert len(served) >= 5
    for r in served:
        s = r["serving"]
        rate, call = s["max_rate_at_slo"]["value"], s["service_s_per_call"]["1"]
        p99 = md1_latency_quantile(0.99, rate, call)
        assert p99 <= 20.0 * (1 + 1e-9) and p99 == pytest.approx(20.0, rel=0.01)
        assert s["p99_at_target"]["value"] == pytest.approx(p99, rel=1e-6)
        assert s["max_rate_basis"].startswith("exact M/D/1") and s["p99_basis"].startswith("exact M/D/1")
    assert main([*args, "--slo-p99", "20", "--rate", "auto"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "basis" in lines[1] and " M/D/1 " in out and max(len(line) for line in lines[: lines.index("")]) <= 120
    flat = " ".join(out.split())  # notes wrap at any space
    assert "M/D/1 = exact M/D/1 (Erlang's waiting-time distribution), no sampling error" in flat
    assert "seeded requests" not in flat and "±x%" not in flat


def test_simulated_rows_say_how_many_requests_and_seeds(capsys):
    """Batching has no closed form here: the row is simulated and its note gives requests, seeds and interval."""
    assert main([*BASE, "--gpu", "h100-sxm", "--slo-p99", "5", "--max-batch", "4"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # notes wrap at any space
    assert "h100-sxm: max rate and p99 simulated " in out and "x 10 seeds" in out
    assert "p99 95% interval ±" in out and "±x% = simulated, 10 seeds combined" in out


def test_a_tiny_target_rate_is_served_by_one_idle_replica(capsys):
    """``--rate 1e-6`` used to be an internal error: one replica serves it, idle almost always, at a high $/image."""
    args = ["recommend", "--model", "kandinsky-2.2", "--slo-p99", "20", "--rate", "1e-6", "--top", "2", "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows and all(r["serving"]["replicas"] == 1 for r in rows if r["serving"]["meets_slo"])

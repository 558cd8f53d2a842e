"""Catalog loading, validation errors, user merges and price overrides."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import pytest

from bench.cli import main
from bench.cost.catalog import load_catalog, parse_price_overrides
from bench.cost.prices.providers import find_provider, own_page
from bench.errors import CatalogError

GUIDE = "clore.ai (Kandinsky deployment guide)"


def test_bundled_catalog_has_the_issue_gpus_with_sourced_dated_prices():
    cat = load_catalog()
    assert len(cat.gpus) >= 20
    for gpu_id in ("rtx3060", "rtx3090", "rtx4070ti", "rtx4080", "rtx4090", "rtx5090", "rtx-a4000", "rtx-a5000",
                   "rtx-a6000", "rtx6000-ada", "t4", "l4", "a10", "a10g", "l40s", "v100-sxm2-32gb",
                   "a100-40gb-pcie", "a100-80gb-sxm", "h100-pcie", "h100-sxm", "h200", "b200"):  # fmt: skip
        assert gpu_id in cat.gpus
    for gpu in cat.gpus.values():
        for price in gpu.prices:
            assert price.source.startswith(("http://", "https://")), (gpu.id, price)
            assert price.usd_per_hour > 0
    guide = {g.id: p.usd_per_hour for g in cat.gpus.values() for p in g.prices if p.provider == GUIDE}
    assert guide == {"rtx3060": 0.03, "rtx3090": 0.06, "rtx4090": 0.10, "a100-40gb-pcie": 0.17, "a100-80gb-sxm": 0.25}


def test_lookup_by_id_and_nvml_name():
    cat = load_catalog()
    assert cat.match_nvml_name("NVIDIA GeForce RTX 4090").id == "rtx4090"
    assert cat.match_nvml_name("  nvidia  h100 80gb HBM3 ").id == "h100-sxm"
    assert cat.match_nvml_name("GeForce RTX 4090").id == "rtx4090"  # without the vendor prefix
    assert cat.match_nvml_name("NVIDIA GeForce RTX 4070 Ti SUPER") is None  # no prefix guessing
    with pytest.raises(CatalogError, match=r"unknown GPU 'rtx9999'; known: .*rtx4090"):
        cat.get("rtx9999")


def test_cheapest_price_filters_providers_and_user_price_wins():
    cat = load_catalog()
    h100 = cat.get("h100-sxm")
    assert h100.cheapest_price().usd_per_hour == 2.40
    assert h100.cheapest_price(["runpod"]).usd_per_hour == 2.69
    assert h100.cheapest_price(["no-such-provider"]) is None
    assert cat.get("rtx4070ti").cheapest_price() is None
    over = load_catalog(overrides={"rtx4090": 0.35})
    price = over.get("rtx4090").cheapest_price(["runpod"])
    assert (price.provider, price.usd_per_hour, price.date) == ("user", 0.35, dt.date.today().isoformat())


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("yaml_text", "field", "message"),
    [
        ("gpus:\n  - id: rtx4090\n    colour: red\n", "gpus[rtx4090].colour", "unknown field"),
        (
            "gpus:\n  - id: rtx4090\n    prices:\n      - {provider: me, usd_per_hour: 0.2, date: 2026-01}\n",
            "gpus[rtx4090].prices[0].source",
            "required field is missing",
        ),
        (
            "gpus:\n  - id: rtx4090\n    prices:\n      - {provider: me, usd_per_hour: -1, date: 2026-01, source: q}\n",
            "gpus[rtx4090].prices[0].usd_per_hour",
            "greater than 0",
        ),
        (
            "gpus:\n  - id: rtx4090\n    prices:\n      - {provider: me, usd_per_hour: 1, date: soon, source: q}\n",
            "gpus[rtx4090].prices[0].date",
            "YYYY",
        ),
        ("gpus:\n  - id: newcard\n    name: New\n", "gpus[newcard].arch", "required field is missing"),
        (
            "gpus:\n  - id: rtx4090\n    prices:\n      - {provider: me, usd_per_hour: 1, date: 2026-01, source: q,"
            " source_kind: blog}\n",
            "gpus[rtx4090].prices[0].source_kind",
            "'primary' or 'aggregator'",
        ),
        ("extras: 1\n", "extras", "unknown field"),
    ],
)
def test_user_yaml_errors_name_file_and_field(tmp_path, yaml_text, field, message):
    path = _write(tmp_path, yaml_text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {field}: "), text
    assert message in text


def test_user_yaml_adds_prices_and_new_gpus(tmp_path):
    path = _write(
        tmp_path,
        "gpus:\n"
        "  - id: rtx4090\n"
        "    prices:\n"
        "      - {provider: MyCloud, usd_per_hour: 0.05, date: 2026-11-01, source: 'quote #12'}\n"
        "  - {id: mycard, name: My Card, arch: Ada, vram_gb: 20, bandwidth_gbs: 500, fp16_tensor_tflops: 50,\n"
        "     fp32_tflops: 25, tdp_w: 200, nvml_names: [My Card], spec_source: datasheet}\n",
    )
    cat = load_catalog(path)
    assert cat.get("rtx4090").cheapest_price().provider == "MyCloud"
    assert cat.get("rtx4090").cheapest_price().source_kind == "primary"  # a user's own price: primary by default
    assert len(cat.get("rtx4090").prices) == 6  # the bundled five stay listed
    assert cat.get("rtx4090").vram_gb == 24
    assert cat.get("mycard").prices == []
    assert cat.files[-1] == str(path)


def test_price_overrides_are_validated():
    assert parse_price_overrides(["rtx4090=0.35", "h100-sxm = 2"]) == {"rtx4090": 0.35, "h100-sxm": 2.0}
    for bad in ("rtx4090", "rtx4090=cheap", "=1"):
        with pytest.raises(CatalogError, match="--price: expected GPU_ID=USD_PER_HOUR"):
            parse_price_overrides([bad])
    with pytest.raises(CatalogError, match="unknown GPU 'nope'"):
        load_catalog(overrides={"nope": 1.0})
    with pytest.raises(CatalogError, match="must be > 0"):
        load_catalog(overrides={"rtx4090": -0.5})


def test_bad_yaml_is_reported_with_its_line(tmp_path):
    path = _write(tmp_path, "gpus: [\n")
    with pytest.raises(CatalogError, match=rf"^{path}:\d+: not valid YAML"):
        load_catalog(path)


def test_every_bundled_price_says_whether_the_provider_published_it():
    """A price cited from the provider's own domain is primary; one cited from anywhere else is marked."""
    checked = 0
    for gpu in load_catalog().gpus.values():
        for price in gpu.prices:
            entry = find_provider(price.provider)
            assert entry is not None and entry.domains, (gpu.id, price.provider)  # its own domains are known
            expected = "primary" if own_page(entry, price.source) else "aggregator"
            assert price.source_kind == expected, (gpu.id, price.provider, price.source)
            checked += 1
    assert checked > 50
    runpod = find_provider("RunPod")  # the check tells a provider's page from a third party's
    assert runpod is not None and own_page(runpod, "https://docs.runpod.io/serverless/pricing")
    assert not own_page(runpod, "https://deploybase.ai/articles/runpod-gpu-pricing")
    assert not own_page(runpod, "https://notrunpod.io/pricing")


def test_no_bundled_aggregator_price_where_the_same_provider_published_one_for_the_gpu():
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    for gpu in load_catalog().gpus.values():
        for price in gpu.prices:
            entry = find_provider(price.provider)
            assert entry is not None
            kinds[(gpu.id, entry.id)].add(price.source_kind)
    assert [key for key, seen in kinds.items() if seen == {"primary", "aggregator"}] == []
    assert any(seen == {"aggregator"} for seen in kinds.values())  # the rule has rows to judge


def test_gpus_marks_aggregator_prices_in_the_table_and_the_json(capsys):
    assert main(["gpus"]) == 0
    out = capsys.readouterr().out
    listed = out[out.index("Listed prices") :].splitlines()
    row = next(line for line in listed if line.split()[:2] == ["rtx3090", "OpenRelay*"])  # a price-tracking repo
    assert "$0.180" in row
    assert any(line.split()[:2] == ["rtx3090", "Hyperbolic"] for line in listed)  # the provider's own docs
    assert "* after a provider: a third party's figure" in out
    assert main(["gpus", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    kinds = {p["provider"]: p["source_kind"] for p in rows["rtx3090"]["listed_prices"]}
    assert kinds["OpenRelay"] == "aggregator" and kinds["Hyperbolic"] == "primary"

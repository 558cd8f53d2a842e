"""The CLORE.AI price source and ``kbench offers``, against a recorded marketplace answer served on 127.0.0.1.

``data/clore_marketplace.json`` is written in the shape ``GET /v1/marketplace`` answers: nested ``gpu_array``,
a mixed-GPU host, a rented host, a multi-GPU host, hosts with missing fields, an implausible price, unreadable
entries. A real HTTP server on the loopback interface serves it; every other address stays refused, so no test
here reaches the network.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from bench.cli import main
from bench.cli.json_doc import schema_path
from bench.cost.catalog import load_catalog
from bench.cost.prices.cache import load_price_cache, save_price_cache
from bench.cost.prices.clore_api import read_listing
from bench.cost.prices.clore_source import match_clore_gpu

from .conftest import Recorded

RECORDED = Path(__file__).parent / "data" / "clore_marketplace.json"
pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture
def marketplace(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    served = Recorded("/v1/marketplace", RECORDED.read_bytes())
    monkeypatch.setenv("KBENCH_CLORE_API_URL", f"{served.base}/v1")
    yield served
    served.close()


def test_listings_read_nested_arrays_percentages_and_missing_fields_leniently():
    servers = json.loads(RECORDED.read_text())["servers"]
    nested = read_listing(next(s for s in servers if isinstance(s, dict) and s.get("id") == 4418))
    assert nested is not None and nested.gpu_names == ("NVIDIA GeForce RTX 3060",) and nested.reliability == 0.991
    bare = read_listing(next(s for s in servers if isinstance(s, dict) and s.get("id") == 9015))
    assert bare is not None and bare.gpu_names == ("NVIDIA GeForce RTX 4090",)  # from specs.gpu alone
    assert (bare.reliability, bare.pcie_gen, bare.country, bare.max_rental_hours) == (None, None, None, None)
    mixed = read_listing(next(s for s in servers if isinstance(s, dict) and s.get("id") == 5531))
    assert mixed is not None and mixed.mixed and mixed.gpu_count == 2
    assert read_listing("garbage") is None and read_listing({"owner": 3}) is None


@pytest.mark.parametrize(
    ("name", "memory", "gpu_id"),
    [
        ("NVIDIA GeForce RTX 4090", 24, "rtx4090"),
        ("NVIDIA A100-SXM4-80GB", 80, "a100-80gb-sxm"),
        ("NVIDIA A100 80GB PCIe", 80, "a100-80gb-pcie"),
        ("NVIDIA A100-SXM4-40GB", 40, "a100-40gb-sxm"),
        ("NVIDIA H100 NVL", 94, "h100-nvl"),
        ("NVIDIA GH200 480GB", 96, "gh200"),
        ("NVIDIA L40", 48, "l40"),
        ("NVIDIA A40", 48, "a40"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 96, "rtx-pro-6000"),
        ("NVIDIA GeForce RTX 5080", 16, "rtx5080"),
        ("NVIDIA GeForce RTX 5070 Ti", 16, "rtx5070ti"),
        ("NVIDIA GeForce RTX 4080 SUPER", 16, "rtx4080-super"),
        ("Tesla V100-SXM2-16GB", 16, "v100-sxm2-16gb"),
        ("GeForce RTX 3090", None, "rtx3090"),  # no vendor prefix, no memory listed
        ("NVIDIA GeForce RTX 3060", 8, None),  # the 8GB card shares the 12GB card's driver name
        ("NVIDIA GeForce RTX 3080", 10, None),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", 16, None),
    ],
)
def test_clore_names_map_through_the_catalogs_own_names(name, memory, gpu_id):
    assert match_clore_gpu(name, memory, load_catalog()) == gpu_id


def test_refresh_maps_hosts_per_gpu_keeps_their_facts_and_lists_what_it_left_out(marketplace, price_cache, capsys):
    assert main(["prices", "refresh", "--provider", "clore"]) == 0
    out = capsys.readouterr().out
    assert marketplace.calls("auth") == [("/v1/marketplace", None)]  # no key set: no auth header
    assert "clore: mixed GPUs servers (1)" in out and "clore: rented servers (1)" in out
    assert "clore: unreadable servers (2)" in out and "clore: no price servers (1)" in out
    assert "NVIDIA GeForce RTX 3060 8GB (1)" in out and "NVIDIA GeForce RTX 3080 10GB (1)" in out
    assert "1 offers flagged" in out and "server 9016" in out
    cache = load_price_cache(price_cache)
    assert cache is not None
    assert not any(o.host and o.host.id in ("7300", "5531") for o in cache.offers)  # rented, mixed: left out
    two = next(o for o in cache.offers if o.host and o.host.id == "5530" and not o.spot)
    assert (two.gpu_id, two.gpu_count) == ("rtx3090", 2)
    assert two.usd_per_gpu_hour == pytest.approx(9.6 / 24 * 1.05 / 2)  # per day -> per hour, fee, per GPU
    assert (two.host.raw_price, two.host.renter_fee, two.host.pcie_width) == (9.6, 0.05, 8)
    assert two.host.price_unit == "USD/day per server (on_demand_usd)" and two.host.min_rental_hours == 6
    spot = next(o for o in cache.offers if o.host and o.host.id == "6101" and o.spot)
    assert spot.tier == "spot" and spot.usd_per_hour == pytest.approx(4.1 / 24 * 1.0125)
    assert spot.host is not None and spot.host.min_rental_hours == 0  # spot: charged for use only
    assert next(o for o in cache.offers if o.host and o.host.id == "9016").flagged


def test_refresh_polls_at_most_once_a_minute_and_a_failure_keeps_the_cache(
    marketplace, price_cache, capsys, monkeypatch
):
    assert main(["prices", "refresh", "--provider", "clore"]) == 0
    assert main(["prices", "refresh", "--provider", "clore"]) == 0  # too soon: not asked again
    assert len(marketplace.requests) == 1
    assert "Clore asks for one marketplace call a minute" in capsys.readouterr().out
    cache = load_price_cache(price_cache)
    assert cache is not None
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = cache.providers["clore"].model_copy(update={"fetched_at": earlier})
    save_price_cache(cache.model_copy(update={"providers": {"clore": status}}), price_cache)
    before = price_cache.read_bytes()
    monkeypatch.setenv("KBENCH_CLORE_API_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("CLORE_API_KEY", "k-123")
    assert main(["prices", "refresh", "--provider", "clore"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if line.startswith("kbench: warning:")]) == 1 and len(err) == 2
    assert err[0].startswith("kbench: warning: prices refresh: clore: query failed: cannot reach")
    assert price_cache.read_bytes() == before


def test_a_bad_api_url_is_one_line_naming_the_variable(price_cache, capsys, monkeypatch):
    monkeypatch.setenv("KBENCH_CLORE_API_URL", "ftp://example/v1")
    assert main(["prices", "refresh", "--provider", "clore"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "KBENCH_CLORE_API_URL: must be an http(s) URL" in err


def test_the_key_is_sent_in_the_auth_header_when_set(marketplace, price_cache, monkeypatch):
    monkeypatch.setenv("CLORE_API_KEY", "k-123")
    assert main(["prices", "refresh", "--provider", "clore"]) == 0
    assert marketplace.calls("auth") == [("/v1/marketplace", "k-123")]


def _table(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  ")) + 2
    return [line.split() for line in lines[start:] if line[:1].isdigit()]


def test_offers_rank_hosts_with_their_link_and_reliability(marketplace, price_cache, capsys):
    assert main(["prices", "refresh", "--provider", "clore"]) == 0
    capsys.readouterr()
    args = ["offers", "--model", "kandinsky-3", "--resolution", "1024x1024", "--steps", "50", "--provider", "clore"]
    assert main(args) == 0
    rows = _table(capsys.readouterr().out)
    hosts = [r[3] for r in rows]
    assert "9016" not in hosts and "7300" not in hosts  # flagged, rented
    fast, riser = rows[hosts.index("6101")], rows[hosts.index("7212")]  # two RTX 4090s, model offload on both
    assert fast[6:8] == ["Gen4", "x16"] and riser[6:8] == ["Gen3", "x1"]
    assert float(riser[9 - 0]) > 10 * float(fast[9])  # s/img: the x1 riser pays its offload many times over
    assert hosts.index("6101") < hosts.index("7212")  # the cheaper host ranks last: its link costs more
    assert main([*args, "--min-reliability", "0.99", "--top", "3"]) == 0
    out = capsys.readouterr().out
    picked = _table(out)
    assert len(picked) == 3 and all(r[4] != "-" and float(r[5]) >= 0.99 for r in picked)
    assert "reliability not listed" in out and "reliability below 0.99" in out


def test_offers_json_validates_and_recommend_uses_the_live_offers(marketplace, price_cache, capsys):
    assert main(["prices", "refresh", "--provider", "clore"]) == 0
    capsys.readouterr()
    args = ["offers", "--model", "kandinsky-2.2", "--resolution", "768x768", "--session-images", "200", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, json.loads(schema_path().read_text(encoding="utf-8")))
    first = doc["rows"][0]
    assert first["usd_per_gpu_hour"]["label"] == "live" and first["session"]["billing"]["minimum_s"] == 21600
    assert first["raw_price"]["unit"].startswith("USD/day per server")
    assert main(["recommend", "--model", "kandinsky-2.2", "--provider", "clore", "--gpu", "rtx4090", "--json"]) == 0
    chosen = json.loads(capsys.readouterr().out)["rows"][0]["price"]
    assert chosen["origin"] == "live" and chosen["provider"] == "clore" and chosen["offers"] == 3  # 9016 flagged
    assert chosen["usd_per_gpu_hour"]["value"] == pytest.approx(8.4 / 24 * 1.05)  # the median of 5.5, 8.4, 9.9


def test_offers_mistakes_are_one_line(marketplace, price_cache, capsys):
    assert main(["offers", "--model", "kandinsky-3"]) == 2
    assert "no price cache" in capsys.readouterr().err
    assert main(["prices", "refresh", "--provider", "clore"]) == 0
    capsys.readouterr()
    assert main(["offers", "--model", "kandinsky-3", "--min-reliability", "95"]) == 2
    assert "--min-reliability: must be a fraction from 0 to 1" in capsys.readouterr().err
    assert main(["offers", "--model", "kandinsky-3", "--provider", "runpod"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--provider: no live offers of 'runpod' in the price cache; it holds clore" in err

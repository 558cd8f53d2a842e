"""The Vast.ai offers source and ``kbench offers --provider vastai``, against a recorded search served on 127.0.0.1.

``data/vastai_bundles.json`` is written in the shape ``POST /api/v0/bundles/`` answers (the fields of Vast's API
reference and CLI): RTX 4090 hosts on a Gen4 x16 link, a Gen3 x16 link and a Gen3 x4 riser, a two-GPU offer,
an offer that lists no link, reliability or country, rented and unrentable offers, GPUs the catalog lacks (an
RTX 3080, an AMD card), an implausible price, an offer without a price, and unreadable entries.
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
from bench.cost.prices.cache import load_price_cache, save_price_cache
from bench.cost.prices.vastai_api import read_listing
from bench.cost.prices.vastai_source import DISK_GB

from .conftest import Recorded

RECORDED = Path(__file__).parent / "data" / "vastai_bundles.json"
pytestmark = pytest.mark.usefixtures("loopback_only")
OFFERS = ["offers", "--model", "kandinsky-3", "--resolution", "1024x1024", "--steps", "50", "--provider", "vastai"]


@pytest.fixture
def vast(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    served = Recorded("/api/v0/bundles/", RECORDED.read_bytes())
    monkeypatch.setenv("KBENCH_VASTAI_API_URL", f"{served.base}/api/v0")
    yield served
    served.close()


def _entry(offer_id: int) -> dict:
    offers = json.loads(RECORDED.read_text())["offers"]
    return next(o for o in offers if isinstance(o, dict) and o.get("id") == offer_id)


def test_offers_are_read_with_their_hosts_facts_and_missing_fields_stay_unknown():
    fast = read_listing(_entry(13506792))
    assert fast is not None and (fast.gpu_name, fast.gpu_count, fast.gpu_memory_gb) == ("RTX 4090", 1, 24.0)
    assert (fast.pcie_gen, fast.pcie_width, fast.pcie_gb_s, fast.country) == (4, 16, 25.6, "US")
    assert (fast.reliability, fast.machine_id, fast.host_id, fast.cuda) == (0.9923, "20222", "113691", "12.2")
    assert fast.max_rental_hours == pytest.approx(10968046 / 3600, abs=0.1)
    shared = read_listing(_entry(13489095))  # half the machine's cores: half its RAM
    assert shared is not None and shared.ram_gb == pytest.approx(32.069 / 2, abs=0.01)
    bare = read_listing(_entry(14231877))
    assert bare is not None and bare.available
    assert (bare.pcie_gen, bare.pcie_width, bare.pcie_gb_s, bare.reliability, bare.country) == (None,) * 5
    assert not read_listing(_entry(14002215)).available  # rented
    assert read_listing("garbage") is None and read_listing({"gpu_name": "RTX 4090"}) is None


def test_refresh_prices_offers_per_gpu_keeps_their_hosts_and_lists_what_it_left_out(vast, price_cache, capsys):
    assert main(["prices", "refresh", "--provider", "vastai"]) == 0
    out = capsys.readouterr().out
    [request] = vast.requests
    assert (request.method, request.path, request.headers.get("authorization")) == ("POST", "/api/v0/bundles/", None)
    search = json.loads(request.body)
    assert search["rentable"] == {"eq": True} and search["rented"] == {"eq": False}
    assert "vastai: rented offers (2)" in out and "vastai: unreadable offers (2)" in out
    assert "vastai: no price offers (1)" in out and "1 offers flagged" in out and "offer 14111111" in out
    assert "RTX 3080 10GB (1)" in out and "Instinct MI300X 192GB (1)" in out
    cache = load_price_cache(price_cache)
    assert cache is not None and cache.providers["vastai"].offers == 19
    by_id = {(o.instance.split(",")[0], o.spot): o for o in cache.offers}
    two = by_id[("offer 13155272", False)]
    assert (two.gpu_id, two.gpu_count, two.region, two.tier) == ("rtx3090", 2, "AE", "marketplace")
    assert two.usd_per_gpu_hour == pytest.approx((0.30 + 0.2 * DISK_GB / 720) / 2)  # the disk added, per GPU
    assert two.host is not None and (two.host.id, two.host.pcie_gb_s, two.host.renter_fee) == ("26371", 11.7, 0.0)
    assert two.host.min_rental_hours == 0 and two.host.raw_price == 0.30
    bid = by_id[("offer 13506792", True)]
    assert bid.tier == "spot" and bid.usd_per_hour == pytest.approx(0.08 + 0.16 * DISK_GB / 720)
    assert by_id[("offer 12877310", False)].gpu_id == "a100-80gb-sxm"  # Vast's "A100 SXM4": no variant assumed
    assert by_id[("offer 12877310", False)].assumption is None
    assert by_id[("offer 12990451", False)].gpu_id == "h100-pcie"
    assert by_id[("offer 13888002", False)].gpu_id == "rtx4080-super"  # "RTX 4080S"
    v100 = by_id[("offer 13777001", False)]
    assert v100.gpu_id == "v100-sxm2-16gb" and v100.assumption  # "Tesla V100" does not say SXM2 or PCIe
    assert by_id[("offer 14111111", False)].flagged


def test_refresh_asks_once_a_minute_and_a_failure_warns_once_and_keeps_the_cache(
    vast, price_cache, capsys, monkeypatch
):
    assert main(["prices", "refresh", "--provider", "vastai"]) == 0
    assert main(["prices", "refresh", "--provider", "vast.ai"]) == 0  # too soon: not asked again
    assert len(vast.requests) == 1 and "once a minute at most" in capsys.readouterr().out
    cache = load_price_cache(price_cache)
    assert cache is not None
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = cache.providers["vastai"].model_copy(update={"fetched_at": earlier})
    save_price_cache(cache.model_copy(update={"providers": {"vastai": status}}), price_cache)
    before = price_cache.read_bytes()
    monkeypatch.setenv("KBENCH_VASTAI_API_URL", "http://127.0.0.1:9/api/v0")  # nothing listens there
    monkeypatch.setenv("VAST_API_KEY", "v-123")
    assert main(["prices", "refresh", "--provider", "vastai"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if line.startswith("kbench: warning:")]) == 1 and len(err) == 2
    assert err[0].startswith("kbench: warning: prices refresh: vastai: query failed: cannot reach")
    assert price_cache.read_bytes() == before
    monkeypatch.setenv("KBENCH_VASTAI_API_URL", "ftp://example/api")
    assert main(["prices", "refresh", "--provider", "vastai"]) == 2
    assert "KBENCH_VASTAI_API_URL: must be an http(s) URL" in capsys.readouterr().err


def _table(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  ")) + 2
    return [line.split() for line in lines[start:] if line.strip()[:1].isdigit()]


def test_offers_rank_vast_hosts_by_their_link_and_filter_by_reliability(vast, price_cache, capsys):
    assert main(["prices", "refresh", "--provider", "vastai"]) == 0
    capsys.readouterr()
    assert main(OFFERS) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    hosts = [r[3] for r in rows]
    fast, slow, riser = (rows[hosts.index(m)] for m in ("20222", "21540", "30417"))  # RTX 4090s, model offload
    assert fast[6:8] == ["Gen4", "x16"] and slow[6:8] == ["Gen3", "x16"] and riser[6:8] == ["Gen3", "x4"]
    assert float(fast[9]) < float(slow[9]) < float(riser[9])  # s/img grows as the link narrows
    assert hosts.index("20222") < hosts.index("30417")  # the cheapest 4090 ranks after: its riser costs more
    assert rows[hosts.index("31190")][6] == "Gen4" and rows[hosts.index("31190")][7] == "x16*"  # no link listed
    assert "host link measured 2.9 GB/s" in out and "30888" not in hosts  # flagged: never ranked
    assert main([*OFFERS, "--min-reliability", "0.99", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, json.loads(schema_path().read_text(encoding="utf-8")))
    assert all(r["reliability"] >= 0.99 for r in doc["rows"]) and "30417" not in [r["host_id"] for r in doc["rows"]]
    assert doc["query"]["left_out"]["reliability not listed"] == 1
    first = next(r for r in doc["rows"] if r["host_id"] == "20222")
    assert first["pcie_gb_s"] == 25.6 and first["country"] == "US" and first["session"] is None

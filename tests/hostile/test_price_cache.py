"""A hostile price cache (``prices/offers.json`` under ``KBENCH_CACHE_DIR``), read by every command that prices:
one line naming the file and the field, exit 2, whichever command reads it. A damaged cache is an error, not
something to skip: prices decide rankings, and ``kbench prices refresh`` replaces the file.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench.cost.prices.cache import (
    MAX_USD_PER_HOUR,
    Offer,
    PriceCache,
    ProviderStatus,
    load_price_cache,
    price_cache_path,
    save_price_cache,
)
from bench.cost.prices.gpuhunt_source import _map_items
from tests.hostile.conftest import refused

WHEN = "2026-01-01T00:00:00Z"


def _offer(**changes: object) -> Offer:
    fields: dict[str, object] = dict(
        provider="runpod", instance="1x RTX 4090", region="eu", gpu_id="rtx4090", gpu_name="RTX4090",
        gpu_memory_gb=24.0, gpu_count=1, usd_per_hour=0.5, spot=False, tier="on-demand", fetched_at=WHEN,
    )  # fmt: skip
    return Offer.model_validate({**fields, **changes})


@pytest.fixture
def cache_file(tmp_path_factory, monkeypatch):
    """A valid price cache as a refresh writes it, in a cache folder outside the work folder; returns its path."""
    monkeypatch.setenv("KBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("hostile-cache")))
    cache = PriceCache(
        refreshed_at=WHEN,
        source="gpuhunt test",
        offers=(_offer(),),
        providers={"runpod": ProviderStatus(fetched_at=WHEN, offers=1)},
    )
    path = save_price_cache(cache)
    assert path == price_cache_path()
    return path


def _damage(path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")  # json writes NaN/Infinity as Python reads them back


CASES = [
    pytest.param(
        lambda d: d["offers"][0].update(fetched_at="yesterday"),
        "offers.0.fetched_at: 'yesterday' is not an ISO 8601 time",
        id="fetched-at-not-a-date",
    ),
    pytest.param(
        lambda d: d.update(refreshed_at="2026-13-45"), "refreshed_at: '2026-13-45' is not an ISO 8601", id="refreshed"
    ),
    pytest.param(
        lambda d: d["providers"]["runpod"].update(fetched_at="soon"),
        "providers.runpod.fetched_at: 'soon' is not",
        id="provider-fetched-at",
    ),
    pytest.param(
        lambda d: d["offers"][0].update(usd_per_hour=float("inf")),
        "offers.0.usd_per_hour: Input should be a finite number",
        id="infinite-price",
    ),
    pytest.param(
        lambda d: d["offers"][0].update(usd_per_hour=float("nan")),
        "offers.0.usd_per_hour: Input should be a finite number",
        id="nan-price",
    ),
    pytest.param(
        lambda d: d["offers"][0].update(usd_per_hour=-0.5),
        "offers.0.usd_per_hour: Input should be greater than or equal to 0.0001",
        id="negative-price",
    ),
    pytest.param(
        lambda d: d["offers"][0].update(usd_per_hour=1e308),
        f"offers.0.usd_per_hour: Input should be less than or equal to {MAX_USD_PER_HOUR:g}",
        id="huge-price",
    ),
    pytest.param(
        lambda d: d["offers"][0].update(gpu_count=10**400),
        "offers.0.gpu_count: Input should be less than or equal to 1024",
        id="huge-gpu-count",
    ),
    pytest.param(
        lambda d: d["offers"][0].update(gpu_memory_gb=float("-inf")),
        "offers.0.gpu_memory_gb: Input should be a finite number",
        id="infinite-memory",
    ),
]
COMMANDS = [
    pytest.param(("gpus",), id="gpus"),
    pytest.param(("prices", "show"), id="prices-show"),
    pytest.param(("prices", "show", "--gpu", "rtx4090"), id="prices-show-gpu"),
    pytest.param(("cost", "r.jsonl", "--gpu", "rtx4090"), id="cost"),
]


@pytest.mark.parametrize(("change", "needle"), CASES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_cache_is_one_line_naming_file_and_field(kb, results, cache_file, change, needle, command):
    _damage(cache_file, change)
    line = refused(kb(*command), f"{cache_file}: price cache is damaged (", needle)
    assert line.endswith("run kbench prices refresh")


@pytest.mark.parametrize("command", COMMANDS)
def test_a_deeply_nested_cache_is_one_line(kb, results, cache_file, command):
    cache_file.write_text("[" * 100_000, encoding="utf-8")
    refused(kb(*command), f"{cache_file}: price cache is unreadable (nested too deeply")


def test_a_binary_cache_is_one_line(kb, cache_file):
    cache_file.write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    refused(kb("gpus"), f"{cache_file}: price cache file is binary, not text")


def test_a_newer_cache_with_a_400_digit_version_is_a_bounded_line(kb, cache_file):
    _damage(cache_file, lambda d: d.update(schema_version=10**400))
    line = refused(kb("gpus"), f"{cache_file}: price cache version ", "is newer than this kbench reads")
    assert len(line) < 300


def test_the_cache_a_refresh_writes_reads_back(cache_file):
    """The bounds refuse damage, not what a refresh writes: a plain date, the largest instances."""
    _damage(cache_file, lambda d: d["offers"][0].update(fetched_at="2026-01-01", gpu_count=16, usd_per_hour=98.32))
    cache = load_price_cache(cache_file)
    assert cache is not None and cache.offers[0].fetched_date.isoformat() == "2026-01-01"


def test_a_refresh_leaves_out_offers_the_cache_would_refuse():
    """gpuhunt's numbers are checked where they enter: a NaN or absurd price never reaches the file."""

    def item(price: float, count: float = 1) -> SimpleNamespace:
        return SimpleNamespace(gpu_count=count, price=price, gpu_name="RTX4090", gpu_memory=24.0,
                               instance_name="x", location="eu", spot=False)  # fmt: skip

    unmapped: dict[str, int] = {}
    items = [item(0.5), item(float("nan")), item(1e308), item(float("inf")), item(0.5, float("nan"))]
    offers = _map_items("runpod", items, WHEN, unmapped)
    assert [o.usd_per_hour for o in offers] == [0.5]

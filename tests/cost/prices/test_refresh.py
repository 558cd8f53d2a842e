"""``kbench prices refresh`` -> ``recommend`` on offline gpuhunt catalogs written with gpuhunt's own storage.

Each offline provider's catalog is a CSV file in ``GPUHUNT_CATALOG_DIR`` written by gpuhunt's ``dump`` (the
format its published catalogs use); online providers fail here (the network is off), which must be one
warning each, never an error.
"""

from __future__ import annotations

import json

import pytest
from gpuhunt import AcceleratorVendor, CatalogItem
from gpuhunt._internal.storage import dump

from bench.cli import main
from bench.cost.prices.cache import load_price_cache

RUNPOD = [  # (instance, region, $/h for the whole instance, GPUs, name, GB, spot)
    ("NVIDIA GeForce RTX 4090", "US", 0.50, 1, "RTX4090", 24, False),
    ("NVIDIA GeForce RTX 4090", "CA", 0.90, 2, "RTX4090", 24, False),  # 2x: $0.45 per GPU
    ("NVIDIA GeForce RTX 4090", "SE", 0.20, 1, "RTX4090", 24, True),  # spot: cheapest, never used by default
    ("NVIDIA RTX 3080", "US", 0.70, 1, "RTX3080", 10, False),  # not in the catalog
]
LAMBDA = [("gpu_8x_h100_sxm5", "us-east-1", 24.0, 8, "H100", 80, False)]  # $3 per GPU


def _items(rows: list[tuple]) -> list[CatalogItem]:
    return [
        CatalogItem(
            provider="ignored",
            instance_name=inst,
            location=loc,
            price=price,
            cpu=8 * n,
            memory=64.0 * n,
            gpu_count=n,
            gpu_name=name,
            gpu_memory=gb,
            spot=spot,
            disk_size=None,
            gpu_vendor=AcceleratorVendor.NVIDIA,
        )
        for inst, loc, price, n, name, gb, spot in rows
    ]


@pytest.fixture
def catalogs(tmp_path, monkeypatch):
    folder = tmp_path / "gpuhunt"
    folder.mkdir()
    dump(_items(RUNPOD), str(folder / "runpod.csv"))
    dump(_items(LAMBDA), str(folder / "lambdalabs.csv"))
    monkeypatch.setenv("GPUHUNT_CATALOG_DIR", str(folder))
    return folder


def refresh(*providers: str) -> list[str]:
    args = ["prices", "refresh"]
    for p in providers:
        args += ["--provider", p]
    return args


def test_refresh_stores_offers_per_gpu_and_warns_per_failed_provider(catalogs, price_cache, capsys):
    assert main(refresh("runpod", "lambdalabs", "aws", "vastai")) == 0
    out, err = capsys.readouterr()
    warnings = err.splitlines()
    assert len(warnings) == 2 and all(w.startswith("kbench: warning: prices refresh: ") for w in warnings)
    assert "aws: no catalog file aws.csv" in warnings[0]
    assert "vastai: query failed:" in warnings[1]  # an online provider without a network
    assert "4 offers for 2 catalog GPUs: lambdalabs 1, runpod 3" in out
    assert "not in the catalog, left out: RTX3080 10GB (1)" in out
    cache = load_price_cache(price_cache)
    assert cache is not None
    h100 = cache.for_gpu("h100-sxm")
    assert [(o.gpu_count, o.usd_per_gpu_hour, o.assumption) for o in h100] == [(8, 3.0, None)]  # 'sxm' in the name
    assert sorted(o.usd_per_gpu_hour for o in cache.for_gpu("rtx4090")) == [0.20, 0.45, 0.50]
    assert cache.providers["aws"].warning and cache.providers["runpod"].offers == 3


def test_no_offers_at_all_exits_2_and_keeps_the_previous_cache(catalogs, price_cache, capsys):
    assert main(refresh("runpod")) == 0
    before = price_cache.read_bytes()
    capsys.readouterr()
    assert main(refresh("aws", "vastai")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("kbench: error: prices refresh: no GPU offers from any provider (2 warnings above)")
    assert err[-1].endswith(f"the previous cache at {price_cache} is unchanged")
    assert len([line for line in err if line.startswith("kbench: warning:")]) == 2
    assert price_cache.read_bytes() == before


def test_a_refresh_that_cannot_download_catalogs_warns_and_writes_nothing(price_cache, capsys):
    assert main(refresh("runpod", "lambdalabs")) == 2  # no GPUHUNT_CATALOG_DIR: gpuhunt tries to download
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == [
        "kbench: warning: prices refresh: lambdalabs: catalog download failed: <urlopen error the network is off in "
        "the tests>",
        "kbench: warning: prices refresh: runpod: catalog download failed: <urlopen error the network is off in the "
        "tests>",
    ]
    assert err[2].endswith(f"nothing was written to {price_cache}") and len(err) == 3
    assert not price_cache.exists()


def test_unknown_provider_is_one_line(capsys):
    assert main(refresh("runpodd")) == 2
    err = capsys.readouterr().err
    assert err.startswith("kbench: error: --provider: gpuhunt has no provider 'runpodd'; known: aws, azure")


def test_round_trip_recommend_uses_fresh_per_gpu_on_demand_prices(catalogs, tmp_path, capsys):
    stale = tmp_path / "stale.yaml"  # a cheaper on-demand price, but from 2020: stale beside a live offer
    stale.write_text(
        "gpus:\n  - id: rtx4090\n    prices:\n      - {provider: OldCloud, usd_per_hour: 0.05, kind: on-demand,"
        " date: '2020-01', source: 'https://example.org/old'}\n"
    )
    assert main(refresh("runpod", "lambdalabs")) == 0
    capsys.readouterr()
    args = ["recommend", "--model", "kandinsky-2.2", "--gpu", "rtx4090", "--gpu", "h100-sxm", "--catalog", str(stale)]
    assert main([*args, "--json", "--no-guide-vram"]) == 0
    rows = {r["gpu"]["id"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    rtx = rows["rtx4090"]
    assert rtx["price"]["origin"] == "live" and not rtx["price"]["stale"]
    assert rtx["price"]["usd_per_gpu_hour"]["value"] == pytest.approx(0.475)  # median of $0.50 and $0.90 / 2
    assert rtx["price"]["tier"] == "on-demand" and rtx["price"]["billing"]["increment_s"] == 60  # RunPod: per minute
    s = rtx["s_per_image"]["value"]
    assert rtx["usd_per_1k_images"]["value"] == pytest.approx(1000 * s * 0.475 / 3600)
    assert rtx["spot"]["price"]["usd_per_gpu_hour"]["value"] == pytest.approx(0.20)  # shown beside, not used
    assert rows["h100-sxm"]["price"]["usd_per_gpu_hour"]["value"] == pytest.approx(3.0)  # 8x instance per GPU
    assert main([*args, "--json", "--no-guide-vram", "--tier", "spot"]) == 0
    spot = {r["gpu"]["id"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert spot["rtx4090"]["price"]["usd_per_gpu_hour"]["value"] == pytest.approx(0.20)
    assert "h100-sxm" not in spot  # no spot offer for it: unpriced under --tier spot
    assert main([*args, "--no-guide-vram"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in table[: table.index("")]) <= 120
    row = next(line for line in table if line.split()[1:2] == ["rtx4090"])
    assert "runpod" in row and "$0.475" in row and "STALE" not in row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gpus", "--tier", "cheap"], "--tier: must be one of on-demand, spot, marketplace, any, got 'cheap'"),
        (["gpus", "--price-stat", "mean"], "--price-stat: must be one of cheapest, median, p25, got 'mean'"),
        (["recommend", "--model", "kandinsky-2.2", "--session-images", "0"], "--session-images: must be a whole"),
        (["recommend", "--model", "kandinsky-2.2", "--session-hours", "-1"], "--session-hours: must be a number"),
        (["recommend", "--model", "kandinsky-2.2", "--session-hours", "1e308"], "--session-hours: must be a number"),
        (["recommend", "--model", "kandinsky-2.2", "--session-images", "1" + "0" * 30], "--session-images: must be"),
        (["recommend", "--model", "kandinsky-2.2", "--session-images", "5", "--session-hours", "1"],
         "--session-images and --session-hours: give one of them, not both"),
    ],
)  # fmt: skip
def test_policy_and_session_mistakes_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kbench: error: {message}") and err.count("\n") == 1


def test_prices_show_without_a_cache_shows_the_catalog_prices(capsys):
    """Offline or never refreshed: a warning and the catalog's prices, as every other command falls back to."""
    assert main(["prices", "show"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("kbench: warning: no price cache at") and captured.err.count("\n") == 1
    row = next(line for line in captured.out.splitlines() if line.startswith("rtx4090 "))
    assert "$" in row  # the policy's price from the catalog


def test_a_damaged_cache_is_one_line_and_refresh_replaces_it(catalogs, price_cache, capsys):
    price_cache.parent.mkdir(parents=True)
    price_cache.write_text("{not json")
    assert main(["gpus"]) == 2
    assert capsys.readouterr().err.startswith(f"kbench: error: {price_cache}: price cache is unreadable")
    assert main(refresh("runpod")) == 0
    assert "it will be replaced" in capsys.readouterr().err
    assert main(["gpus", "--no-prices"]) == 0

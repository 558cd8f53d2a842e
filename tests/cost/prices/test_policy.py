"""The price policy on hand-made offers and catalog prices: tiers, statistics, age, providers, user prices."""

from __future__ import annotations

import datetime as dt

import pytest

from bench.cost.catalog import GpuSpec, Price, load_catalog
from bench.cost.prices.cache import Offer
from bench.cost.prices.policy import PricePolicy, choose_price, choose_prices, priced_catalog

TODAY = dt.date(2026, 12, 1)
GPU = load_catalog().get("rtx4090")


def offer(usd: float, *, provider: str = "runpod", count: int = 1, spot: bool = False, day: str = "2026-11-30"):
    tier = "spot" if spot else ("marketplace" if provider == "vastai" else "on-demand")
    return Offer(
        provider=provider, instance="i", region="r", gpu_id="rtx4090", gpu_name="RTX4090", gpu_memory_gb=24,
        gpu_count=count, usd_per_hour=usd, spot=spot, tier=tier, fetched_at=f"{day}T12:00:00Z",
    )  # fmt: skip


def gpu_with(*prices: Price) -> GpuSpec:
    return GPU.model_copy(update={"prices": list(prices)})


def listed(usd: float, date: str, kind: str = "on-demand", provider: str = "Somewhere") -> Price:
    return Price(provider=provider, usd_per_hour=usd, kind=kind, date=date, source="https://example.org/p")  # type: ignore[arg-type]


def test_median_of_live_offers_per_gpu_and_spot_kept_apart():
    offers = [offer(0.40), offer(1.00, count=2), offer(0.80), offer(0.10, spot=True)]  # 0.40, 0.50, 0.80 per GPU
    choice = choose_price(gpu_with(), offers, PricePolicy(today=TODAY))
    assert choice is not None
    assert choice.usd_per_hour == pytest.approx(0.50)  # the median of three on-demand per-GPU prices; spot left out
    assert (choice.stat, choice.offers, choice.origin, choice.stale) == ("median", 3, "live", False)
    spot = choose_price(gpu_with(), offers, PricePolicy(tier="spot", today=TODAY))
    assert spot is not None and spot.usd_per_hour == pytest.approx(0.10) and spot.kind == "spot"


def test_price_stat_cheapest_and_p25_by_hand():
    offers = [offer(v) for v in (1.0, 2.0, 3.0, 4.0, 5.0)]
    cheapest = choose_price(gpu_with(), offers, PricePolicy(stat="cheapest", today=TODAY))
    p25 = choose_price(gpu_with(), offers, PricePolicy(stat="p25", today=TODAY))
    assert cheapest is not None and cheapest.usd_per_hour == 1.0
    assert p25 is not None and p25.usd_per_hour == pytest.approx(2.0)  # position (5-1)*0.25 = 1 -> the second value
    four = choose_price(gpu_with(), offers[:4], PricePolicy(stat="p25", today=TODAY))
    assert four is not None and four.usd_per_hour == pytest.approx(1.75)  # 1 + 0.75 * (2 - 1)


def test_fresh_catalog_price_wins_over_a_cheaper_stale_one_and_stale_only_is_marked():
    gpu = gpu_with(listed(0.05, "2024", kind="marketplace"), listed(0.60, "2026-11-20"))
    choice = choose_price(gpu, [], PricePolicy(today=TODAY))
    assert choice is not None and (choice.usd_per_hour, choice.stale, choice.stat) == (0.60, False, "cheapest")
    only_old = choose_price(gpu_with(listed(0.05, "2024"), listed(0.07, "2025-03")), [], PricePolicy(today=TODAY))
    assert only_old is not None and only_old.stale
    assert (only_old.usd_per_hour, only_old.date) == (0.07, "2025-03")  # the freshest of the stale prices
    assert only_old.as_price().tier.endswith("(stale)")


def test_a_month_counts_from_its_last_day_and_max_age_moves_the_line():
    gpu = gpu_with(listed(0.50, "2026-09"))  # 2026-09-30 is 62 days before 2026-12-01
    assert not choose_price(gpu, [], PricePolicy(today=TODAY, max_age_days=62)).stale  # type: ignore[union-attr]
    assert choose_price(gpu, [], PricePolicy(today=TODAY, max_age_days=61)).stale  # type: ignore[union-attr]


def test_live_offers_win_over_fresh_catalog_prices_and_stale_offers_fall_back_to_the_catalog():
    gpu = gpu_with(listed(0.30, "2026-11-25"))
    live = choose_price(gpu, [offer(0.90)], PricePolicy(today=TODAY))
    assert live is not None and live.origin == "live" and live.usd_per_hour == 0.90
    old_offer = offer(0.20, day="2026-01-05")
    fallback = choose_price(gpu, [old_offer], PricePolicy(today=TODAY))
    assert fallback is not None and (fallback.origin, fallback.usd_per_hour, fallback.stale) == ("catalog", 0.30, False)


def test_tiers_filter_kinds():
    gpu = gpu_with(listed(0.2, "2026-11", kind="managed"), listed(0.9, "2026-11", kind="reserved"))
    assert choose_price(gpu, [], PricePolicy(today=TODAY)) is None  # managed and reserved only under --tier any
    assert choose_price(gpu, [], PricePolicy(tier="any", today=TODAY)).usd_per_hour == 0.2  # type: ignore[union-attr]
    mixed = [offer(0.3, provider="vastai"), offer(0.5)]
    assert choose_price(gpu, mixed, PricePolicy(tier="marketplace", today=TODAY)).usd_per_hour == 0.3  # type: ignore[union-attr]
    assert choose_price(gpu, mixed, PricePolicy(tier="on-demand", today=TODAY)).usd_per_hour == 0.5  # type: ignore[union-attr]


def test_provider_filter_matches_names_and_aliases():
    gpu = gpu_with(listed(0.25, "2026-11", provider="vast.ai", kind="marketplace"))
    offers = [offer(0.4, provider="vastai"), offer(0.6, provider="runpod")]
    choice = choose_price(gpu, offers, PricePolicy(providers=("vast.ai",), today=TODAY))
    assert choice is not None and choice.provider == "vastai" and choice.usd_per_hour == 0.4
    clore = choose_price(load_catalog().get("rtx4090"), [], PricePolicy(providers=("clore.ai",), today=TODAY))
    assert clore is not None and clore.usd_per_hour == 0.10 and clore.stale  # the guide's 2024 rate, on request


def test_user_price_wins_and_priced_catalog_carries_one_price_per_gpu():
    catalog = load_catalog(overrides={"rtx4090": 0.33})
    choices = choose_prices(catalog, None, PricePolicy(today=TODAY))
    assert choices["rtx4090"] is not None and choices["rtx4090"].usd_per_hour == 0.33
    priced = priced_catalog(catalog, choices)
    assert [p.usd_per_hour for p in priced.get("rtx4090").prices] == [0.33]
    assert priced.get("rtx4070ti").prices == []  # no sourced price at all
    assert priced.get("rtx4090").cheapest_price().provider == "user"  # type: ignore[union-attr]


def test_billing_follows_the_provider_of_the_price_used():
    choice = choose_price(gpu_with(), [offer(0.5, provider="aws")], PricePolicy(today=TODAY))
    assert choice is not None and (choice.billing.increment_s, choice.billing.minimum_s) == (1, 60)
    unknown = choose_price(gpu_with(listed(0.5, "2026-11")), [], PricePolicy(today=TODAY))
    assert unknown is not None and not unknown.billing.known and "assumed" in unknown.billing.label


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tier": "cheap"}, "--tier: must be one of on-demand, spot, marketplace, any, got 'cheap'"),
        ({"stat": "mean"}, "--price-stat: must be one of cheapest, median, p25, got 'mean'"),
        ({"max_age_days": -1}, "--max-price-age: must be >= 0 days, got -1"),
    ],
)
def test_bad_policy_values_name_the_flag(kwargs, message):
    with pytest.raises(ValueError) as info:
        PricePolicy(**kwargs)
    assert str(info.value) == message

"""The price book: the one place a command gets a GPU's hourly price.

Built once per command from the bundled catalog (plus ``--catalog`` and ``--price``), the live offers of the
price cache when there is one, and the price policy (tier, statistic, maximum age, providers). Every command
that shows a dollar (``recommend``, ``cost``, ``gpus``, ``compare-models``, ``report``, ``prices show``,
``sky plan`` and the $ per image at a serving SLO) reads its prices here, so one GPU has one price in one
command whatever table shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.cost.catalog import Catalog, GpuSpec, load_catalog, parse_price_overrides
from bench.cost.prices.cache import PriceCache, load_price_cache, price_cache_path
from bench.cost.prices.policy import PriceChoice, PricePolicy, choose_prices, priced_catalog


@dataclass(frozen=True)
class PriceBook:
    """The catalog as listed, the same catalog carrying the policy's prices, and the choices behind them."""

    listed: Catalog
    priced: Catalog
    choices: dict[str, PriceChoice | None]
    spot: dict[str, PriceChoice | None]
    policy: PricePolicy
    cache: PriceCache | None

    def note(self) -> str:
        """One line: where the prices came from and under which policy."""
        if self.cache is None:
            where = f"bundled catalog prices (no price cache at {price_cache_path()}; kbench prices refresh)"
        else:
            where = f"{len(self.cache.offers)} live offers fetched {self.cache.refreshed_at} + catalog fallback"
        return f"prices: {where}; policy: {self.policy.describe()}"

    def gpu_for_device(self, device_name: str) -> GpuSpec | None:
        """The catalog GPU a device name reported by NVML (a record's ``gpu_name``) is, priced by the policy."""
        return self.priced.match_nvml_name(device_name)  # the priced copy keeps every GPU and its NVML names


def price_book(listed: Catalog, cache: PriceCache | None = None, policy: PricePolicy | None = None) -> PriceBook:
    """The book of an already loaded catalog: ``cache``'s live offers (None: catalog prices only) under ``policy``."""
    policy = policy or PricePolicy()
    choices = choose_prices(listed, cache, policy)
    spot_policy = PricePolicy(
        tier="spot", stat=policy.stat, max_age_days=policy.max_age_days, providers=policy.providers, today=policy.today
    )
    spot = choose_prices(listed, cache, spot_policy) if policy.tier in (None, "on-demand", "marketplace") else {}
    return PriceBook(listed, priced_catalog(listed, choices), choices, spot, policy, cache)


def load_price_book(
    catalog_file: Path | None = None, overrides: list[str] | None = None, policy: PricePolicy | None = None
) -> PriceBook:
    """Catalog, cache and policy together (defaults: the bundled catalog, no overrides, the default policy)."""
    listed = load_catalog(catalog_file, parse_price_overrides(overrides or []))
    return price_book(listed, load_price_cache(), policy)


__all__ = ["PriceBook", "load_price_book", "price_book"]

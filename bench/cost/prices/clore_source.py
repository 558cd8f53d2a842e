"""Live CLORE.AI offers: a gpuhunt-shaped online provider, and its items mapped onto catalog GPUs host by host.

:class:`CloreProvider` has the shape of a gpuhunt online provider (``NAME``, ``from_env``, ``get`` returning
``CatalogItem`` objects priced in $ per hour for the whole server, host facts in ``provider_data``), so it could
be contributed to gpuhunt as it is; gpuhunt 0.1.x refuses providers it does not list, so kbench calls it
directly rather than through ``gpuhunt.Catalog``. It reads the marketplace (:mod:`bench.cost.prices.clore_api`),
leaves out rented servers and servers whose GPUs are of more than one model (their one price cannot be split),
converts the daily price to an hourly one and adds the renter fee of ``bench/data/providers.yaml``.

:func:`fetch_clore_offers` maps each item onto a catalog GPU through the catalog's own table of names
(``nvml_names`` in ``bench/data/gpus.yaml``: Clore lists a server's GPUs as the driver names them, "NVIDIA
GeForce RTX 4090") with the card's memory as a check, keeps every host fact on the offer, and prices a
multi-GPU server per GPU. Nothing is dropped silently: unmatched names, mixed, rented, unpriced and unreadable
servers are counted under what they are, and an offer whose price is implausible when read as
:data:`~bench.cost.prices.clore_api.PRICE_UNIT` is kept but flagged, so it prices nothing. The marketplace is
fetched at most once every :data:`MIN_POLL_S` seconds (Clore's own advice for polling); a refresh sooner keeps
the cached offers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Literal

from gpuhunt import AcceleratorVendor, CatalogItem

from bench.cost.catalog import Catalog
from bench.cost.prices.cache import Offer, PriceCache
from bench.cost.prices.clore_api import (
    API_KEY_VARIABLE,
    HOURS_PER_PRICE_UNIT,
    PRICE_UNIT,
    CloreApiError,
    Listing,
    api_url,
    fetch_marketplace,
    read_listings,
)
from bench.cost.prices.gpuhunt_source import FetchResult
from bench.cost.prices.marketplace import (
    MIN_POLL_S,
    PLAUSIBLE_USD_PER_GPU_HOUR,
    MarketplaceProvider,
    host_facts,
    host_offer,
    too_soon,
)
from bench.cost.prices.providers import find_provider

PROVIDER = "clore"
# https://docs.clore.ai/developers/cli-sdk: "polling intervals of 60+ seconds" (marketplace.MIN_POLL_S)
VRAM_TOLERANCE = 0.10  # a card's listed memory within 10% of the catalog's (drivers report 23.6 GB for 24)
Skip = Literal["rented", "mixed GPUs", "no GPU", "no price"]


def _fees() -> tuple[float, float]:
    entry = find_provider(PROVIDER)
    fee = entry.renter_fee if entry is not None else None
    return (fee.on_demand, fee.spot) if fee is not None else (0.0, 0.0)


def _short_name(name: str) -> str:
    """gpuhunt's style of GPU name ("RTX4090", "A100"): vendor words and spaces removed."""
    for word in ("NVIDIA ", "GeForce ", "Tesla "):
        name = name.replace(word, "")
    return name.replace(" ", "")


class CloreProvider(MarketplaceProvider):
    """CLORE.AI's marketplace as a gpuhunt online provider (see the module docstring)."""

    NAME = PROVIDER
    KEY_VARIABLE = API_KEY_VARIABLE
    default_url = staticmethod(api_url)

    def listings(self) -> tuple[list[Listing], int]:
        """Raises: CloreApiError: the marketplace could not be read."""
        return read_listings(fetch_marketplace(self.base_url, self.api_key))

    def items(self, listing: Listing) -> list[CatalogItem]:
        """An on-demand item, plus a spot item where the server lists a spot price (each with its renter fee)."""
        on_demand_fee, spot_fee = _fees()  # the provider table is read once a process
        assert listing.on_demand_usd is not None
        items = [self._item(listing, listing.on_demand_usd, on_demand_fee, spot=False)]
        if listing.spot_usd is not None:
            items.append(self._item(listing, listing.spot_usd, spot_fee, spot=True))
        return items

    def skip(self, listing: Listing) -> Skip | None:
        if listing.rented:
            return "rented"
        if not listing.gpu_names:
            return "no GPU"
        if listing.mixed:
            return "mixed GPUs"
        if listing.on_demand_usd is None:
            return "no price"
        return None

    @staticmethod
    def _item(listing: Listing, raw: float, fee: float, *, spot: bool) -> CatalogItem:
        data: dict[str, Any] = {
            "host": listing.id,
            "instance": f"server {listing.id}",
            "gpu_model": listing.gpu_names[0],
            "raw_price": raw,
            "price_unit": PRICE_UNIT,
            "price_field": "spot" if spot else listing.on_demand_field,
            "renter_fee": fee,
            **host_facts(listing),
        }
        return CatalogItem(
            provider=PROVIDER,
            instance_name=listing.id,
            location=(listing.country or "").lower(),
            price=raw / HOURS_PER_PRICE_UNIT * (1.0 + fee),
            cpu=0,
            memory=float(listing.ram_gb or 0.0),
            gpu_count=listing.gpu_count,
            gpu_name=_short_name(listing.gpu_names[0]),
            gpu_memory=listing.gpu_memory_gb,
            spot=spot,
            disk_size=None,
            gpu_vendor=AcceleratorVendor.NVIDIA,
            provider_data=data,
        )


def match_clore_gpu(name: str, memory_gb: float | None, catalog: Catalog) -> str | None:
    """The catalog id of a GPU as Clore names it ("NVIDIA GeForce RTX 4090", 24), or None when there is none.

    The catalog's NVML names are the table; the memory, where listed, must be within 10% of the card's, so an
    RTX 3060 8GB (the same driver name as the 12GB card) is not priced as the 12GB one.
    """
    gpu = catalog.match_nvml_name(name)
    if gpu is None:
        return None
    if memory_gb is not None and abs(memory_gb - gpu.vram_gb) > VRAM_TOLERANCE * gpu.vram_gb:
        return None
    return gpu.id


def fetch_clore_offers(
    catalog: Catalog,
    *,
    now: dt.datetime | None = None,
    previous: PriceCache | None = None,
    provider: CloreProvider | None = None,
) -> FetchResult:
    """Clore's offers mapped onto ``catalog``; never raises for the marketplace's failure (one warning)."""
    now = now or dt.datetime.now(dt.UTC)
    wait = too_soon(previous, PROVIDER, now, "Clore asks for one marketplace call a minute at most")
    if wait:
        return FetchResult(offers={}, warnings={}, kept={PROVIDER: wait}, source="clore marketplace")
    try:
        source = provider or CloreProvider.from_env()
        items = source.get()
    except CloreApiError as exc:
        return FetchResult(offers={}, warnings={PROVIDER: f"query failed: {exc}"}, source="clore marketplace")
    fetched_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = find_provider(PROVIDER)
    minimum_h = entry.billing.minimum_s / 3600.0 if entry is not None and entry.billing is not None else 0.0
    skipped: Counter[str] = Counter({f"{why} servers": n for why, n in source.skipped.items()})
    unmapped: Counter[str] = Counter()
    offers: list[Offer] = []
    for item in items:
        name = str(item.provider_data["gpu_model"])
        gpu_id = match_clore_gpu(name, item.gpu_memory, catalog)
        if gpu_id is None:
            if not item.spot:  # one count per server, not one per price
                unmapped[f"{name} {item.gpu_memory or 0:g}GB"] += 1
            continue
        try:
            offers.append(host_offer(item, gpu_id, fetched_at, min_rental_hours=0.0 if item.spot else minimum_h))
        except ValueError:  # a price or size the cache would refuse to read back: counted, never stored
            skipped["out-of-range servers"] += 1
    return FetchResult(
        offers={PROVIDER: offers},
        warnings={},
        unmapped=dict(unmapped),
        source="clore marketplace",
        skipped={f"{PROVIDER}: {k}": n for k, n in skipped.items()},
    )


__all__ = [
    "MIN_POLL_S",
    "PLAUSIBLE_USD_PER_GPU_HOUR",
    "PROVIDER",
    "CloreProvider",
    "fetch_clore_offers",
    "match_clore_gpu",
]

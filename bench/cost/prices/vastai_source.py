"""Live Vast.ai offers host by host: a gpuhunt-shaped online provider, and its items mapped onto catalog GPUs.

gpuhunt's own ``vastai`` provider reads the same search but keeps only price, CPU, memory, disk and GPU; its
``provider_data`` holds at most a ``min_bid``. :class:`VastAIOffersProvider` has the same shape (``NAME``,
``from_env``, ``get`` returning ``CatalogItem`` objects in $ per hour for the whole offer, GPU names as gpuhunt
writes them) and keeps each host's facts in ``provider_data``: reliability, PCIe generation, lanes and measured
bandwidth, disk and network speed, country, machine and host id, maximum rental length. So it could replace
gpuhunt's provider upstream as it is; kbench calls it directly, like the CLORE.AI source.

**Price.** An on-demand offer costs its host's ``dph_base`` plus the disk a rental allocates,
:data:`DISK_GB` at the offer's ``storage_cost`` (per GB and month); an interruptible one the current
``min_bid`` plus the same disk. Vast adds no fee of its own; bandwidth is billed per TB transferred and is not
included. A multi-GPU offer is priced per GPU. A price implausible per GPU-hour is kept but flagged.

:func:`fetch_vastai_offers` maps each item onto a catalog GPU through the one table of gpuhunt names
(:mod:`bench.cost.prices.names`), Vast's own name ("A100 SXM4", "H100 PCIE") telling the variants apart, and
lists what it could not map; it asks at most once every :data:`~bench.cost.prices.marketplace.MIN_POLL_S`
seconds, and a failure is one warning with the previous cache kept.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Literal

from gpuhunt import AcceleratorVendor, CatalogItem
from gpuhunt.providers.vastai import get_dstack_gpu_name

from bench.cost.prices.cache import Offer, PriceCache
from bench.cost.prices.gpuhunt_source import FetchResult
from bench.cost.prices.marketplace import MarketplaceProvider, host_facts, host_offer, too_soon
from bench.cost.prices.names import match_gpu
from bench.cost.prices.vastai_api import (
    API_KEY_VARIABLE,
    HOURS_PER_MONTH,
    PRICE_UNIT,
    Listing,
    VastApiError,
    api_url,
    fetch_bundles,
    read_listings,
)

PROVIDER = "vastai"
NAMES = ("vastai", "vast.ai", "vast")  # how --provider may name it
DISK_GB = 64.0  # the disk a Kandinsky rental allocates: a CUDA image and Kandinsky 3's fp16 weights (~25 GB)
Skip = Literal["rented", "no GPU", "no price"]


def _instance(listing: Listing) -> str:
    """``offer 13506792, machine 20222, host 113691``: what a rental names, the machine, and the host who owns it."""
    parts = [f"offer {listing.id}"]
    parts += [f"machine {listing.machine_id}"] if listing.machine_id else []
    parts += [f"host {listing.host_id}"] if listing.host_id else []
    return ", ".join(parts)


class VastAIOffersProvider(MarketplaceProvider):
    """Vast.ai's offers with their hosts' facts, as a gpuhunt online provider (see the module docstring)."""

    NAME = PROVIDER
    KEY_VARIABLE = API_KEY_VARIABLE
    default_url = staticmethod(api_url)

    def listings(self) -> tuple[list[Listing], int]:
        """Raises: VastApiError: the search could not be read."""
        return read_listings(fetch_bundles(self.base_url, self.api_key))

    def items(self, listing: Listing) -> list[CatalogItem]:
        """An on-demand item, plus an interruptible one where the offer lists a minimum bid."""
        assert listing.dph_base is not None
        items = [self._item(listing, listing.dph_base, spot=False)]
        if listing.min_bid is not None:
            items.append(self._item(listing, listing.min_bid, spot=True))
        return items

    def skip(self, listing: Listing) -> Skip | None:
        if not listing.available:
            return "rented"
        if not listing.gpu_name or not listing.gpu_count:
            return "no GPU"
        if listing.dph_base is None:
            return "no price"
        return None

    @staticmethod
    def _item(listing: Listing, raw: float, *, spot: bool) -> CatalogItem:
        storage = (listing.storage_usd_gb_month or 0.0) * DISK_GB / HOURS_PER_MONTH
        disk = f"; + {DISK_GB:g} GB disk at ${listing.storage_usd_gb_month or 0:.3g}/GB-month"
        assert listing.gpu_name is not None and listing.gpu_count is not None
        data: dict[str, Any] = {
            "host": listing.machine_id or listing.id,
            "instance": _instance(listing),
            "gpu_model": listing.gpu_name,
            "raw_price": raw,
            "price_unit": PRICE_UNIT,
            "price_field": ("min_bid" if spot else "dph_base") + disk,
            "renter_fee": 0.0,
            "pcie_gb_s": listing.pcie_gb_s,
            **host_facts(listing),
        }
        return CatalogItem(
            provider=PROVIDER,
            instance_name=listing.id,
            location=(listing.country or "").lower(),
            price=raw + storage,
            cpu=0,
            memory=float(listing.ram_gb or 0.0),
            gpu_count=listing.gpu_count,
            gpu_name=get_dstack_gpu_name(listing.gpu_name),
            gpu_memory=listing.gpu_memory_gb,
            spot=spot,
            disk_size=DISK_GB,
            gpu_vendor=AcceleratorVendor.AMD if listing.amd else AcceleratorVendor.NVIDIA,
            provider_data=data,
        )


def fetch_vastai_offers(
    *, now: dt.datetime | None = None, previous: PriceCache | None = None, provider: VastAIOffersProvider | None = None
) -> FetchResult:
    """Vast.ai's offers mapped onto the catalog; never raises for the search's failure (one warning)."""
    now = now or dt.datetime.now(dt.UTC)
    wait = too_soon(previous, PROVIDER, now, "kbench asks Vast.ai's offer search once a minute at most")
    if wait:
        return FetchResult(offers={}, warnings={}, kept={PROVIDER: wait}, source="vast.ai search")
    try:
        source = provider or VastAIOffersProvider.from_env()
        items = source.get()
    except VastApiError as exc:
        return FetchResult(offers={}, warnings={PROVIDER: f"query failed: {exc}"}, source="vast.ai search")
    fetched_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    skipped: Counter[str] = Counter({f"{why} offers": n for why, n in source.skipped.items()})
    unmapped: Counter[str] = Counter()
    offers: list[Offer] = []
    for item in items:
        name = str(item.provider_data["gpu_model"])
        match = None if item.gpu_vendor == AcceleratorVendor.AMD else match_gpu(item.gpu_name, item.gpu_memory, name)
        if match is None:
            if not item.spot:  # one count per offer, not one per price
                unmapped[f"{name} {item.gpu_memory or 0:g}GB"] += 1
            continue
        try:
            offers.append(host_offer(item, match.gpu_id, fetched_at, min_rental_hours=0.0, assumption=match.assumption))
        except ValueError:  # a price or size the cache would refuse to read back: counted, never stored
            skipped["out-of-range offers"] += 1
    return FetchResult(
        offers={PROVIDER: offers},
        warnings={},
        unmapped=dict(unmapped),
        source="vast.ai search",
        skipped={f"{PROVIDER}: {k}": n for k, n in skipped.items()},
    )


__all__ = ["DISK_GB", "NAMES", "PROVIDER", "VastAIOffersProvider", "fetch_vastai_offers"]

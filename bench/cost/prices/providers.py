"""Rental providers (``bench/data/providers.yaml``): how each sells its offers and how it rounds rented time.

A price names its provider in free text (``RunPod``, ``vast.ai``, ``clore.ai (Kandinsky deployment guide)``)
and an offer from gpuhunt by gpuhunt's id (``runpod``, ``vastai``); both are matched here by the first word of
the name against each provider's id and aliases. A provider the file does not list sells on-demand and is
billed by the second with no minimum, which :class:`~bench.cost.costs.Billing` labels as assumed.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.cost.costs import Billing
from bench.errors import CatalogError, located
from bench.yaml_files import read_yaml

_STRICT = ConfigDict(extra="forbid", frozen=True)
_FIRST_WORD = re.compile(r"[^\s(,;]+")


class BillingEntry(BaseModel):
    """Billing increment and minimum, with the page that states them."""

    model_config = _STRICT

    increment_s: float = Field(gt=0)
    minimum_s: float = Field(ge=0)
    source: str = Field(min_length=1)
    note: str | None = None


class RenterFee(BaseModel):
    """The share of the listed price a renter pays on top of it, by order kind, with the page that states it."""

    model_config = _STRICT

    on_demand: float = Field(ge=0, le=1)
    spot: float = Field(ge=0, le=1)
    source: str = Field(min_length=1)
    note: str | None = None


class ProviderEntry(BaseModel):
    """One provider: its id, other spellings, the domains of its own price pages, the kind of its non-spot
    offers, its billing and its renter fee."""

    model_config = _STRICT

    id: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)  # where it publishes its own prices
    offers: Literal["on-demand", "marketplace"] = "on-demand"
    billing: BillingEntry | None = None
    renter_fee: RenterFee | None = None


class ProvidersFile(BaseModel):
    """The whole document."""

    model_config = _STRICT

    schema_version: int = 1
    providers: list[ProviderEntry] = Field(default_factory=list)


def providers_path() -> Path:
    """Where the provider table shipped with the package lives."""
    return Path(str(resources.files("bench") / "data" / "providers.yaml"))


@functools.cache
def provider_table() -> dict[str, ProviderEntry]:
    """Providers by every lower-case name they go by (id and aliases)."""
    path = providers_path()
    _, data = read_yaml(path, CatalogError, "provider table")
    try:
        parsed = ProvidersFile.model_validate(data or {})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogError(located(str(first["msg"]), file=path, field=where)) from None
    table: dict[str, ProviderEntry] = {}
    for entry in parsed.providers:
        for name in (entry.id, *entry.aliases):
            table[name.lower()] = entry
    return table


def find_provider(name: str) -> ProviderEntry | None:
    """The provider a price or offer names, by its first word (``RunPod`` and ``runpod`` alike), or None."""
    match = _FIRST_WORD.match(name.strip().lower())
    return provider_table().get(match.group(0)) if match else None


def own_page(entry: ProviderEntry, url: str) -> bool:
    """Whether ``url`` is on one of the provider's own domains (a subdomain counts): a primary source."""
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d or host.endswith(f".{d}") for d in entry.domains)


def billing_for(provider: str) -> Billing:
    """How ``provider`` bills, where the provider table says; else by the second, marked as assumed."""
    entry = find_provider(provider)
    if entry is None or entry.billing is None:
        return Billing()
    b = entry.billing
    return Billing(increment_s=b.increment_s, minimum_s=b.minimum_s, known=True, source=b.source)


def offer_kind(provider: str, spot: bool) -> Literal["on-demand", "spot", "marketplace"]:
    """The policy tier of a live offer: spot if reclaimable, else how the provider sells (on-demand by default)."""
    if spot:
        return "spot"
    entry = find_provider(provider)
    return entry.offers if entry is not None else "on-demand"


__all__ = [
    "BillingEntry",
    "ProviderEntry",
    "RenterFee",
    "billing_for",
    "find_provider",
    "offer_kind",
    "own_page",
    "provider_table",
]

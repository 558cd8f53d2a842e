"""The price policy: one price per GPU, from live offers or the catalog, comparable across GPUs.

Rules, in order, for each GPU:

1. A price given on the command line (``--price``, provider ``user``) is used as is.
2. Candidates are the GPU's live offers from the price cache and its catalog prices, kept when their provider
   matches ``--provider`` (any of them, case-insensitive, by name or alias) and their kind is in the tier:
   ``on-demand`` and ``marketplace`` by default, or exactly one of ``on-demand``, ``spot``, ``marketplace``,
   or ``any`` (which adds managed platforms and reserved capacity).
3. A price is *fresh* when it is at most ``max_age_days`` old (a catalog date of ``2026-11`` counts from the
   last day of that month). Fresh live offers are used if there are any, else fresh catalog prices; when
   only stale ones exist, the freshest of them are used and the choice is marked ``stale``.
   Offers flagged as implausible (a marketplace price that makes no sense in its stated unit) never count.
4. The statistic runs over the prices used: ``median`` by default for live offers (the cheapest offer is
   often one machine in one region), ``cheapest`` by default for catalog prices (each is one provider's list
   price), or the one asked for (``cheapest``, ``median``, ``p25``). Multi-GPU instances count per GPU.
5. The provider of the offer nearest the figure names the billing granularity used in session costs.
"""

from __future__ import annotations

import calendar
import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bench.cost.catalog import USER_PROVIDER, Catalog, GpuSpec, Price, SourceKind
from bench.cost.costs import Billing
from bench.cost.prices.cache import Offer, PriceCache
from bench.cost.prices.clore_api import API_REFERENCE as CLORE_API_REFERENCE
from bench.cost.prices.gpuhunt_source import GPUHUNT_URL
from bench.cost.prices.providers import billing_for, find_provider
from bench.cost.prices.vastai_api import API_REFERENCE as VAST_API_REFERENCE

TIERS = ("on-demand", "spot", "marketplace", "any")
DEFAULT_KINDS = ("on-demand", "marketplace")
ALL_KINDS = ("on-demand", "spot", "marketplace", "managed", "reserved")
STATS = ("cheapest", "median", "p25")
DEFAULT_MAX_AGE_DAYS = 90.0
Origin = Literal["live", "catalog", "user"]
LIVE_SOURCES = {  # live offers not fetched through gpuhunt
    "clore": f"{CLORE_API_REFERENCE} (marketplace)",
    "vastai": f"{VAST_API_REFERENCE} (marketplace)",
}


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class PricePolicy:
    """Which prices count and how they are summarised (see the module docstring)."""

    tier: str | None = None  # None: on-demand and marketplace
    stat: str | None = None  # None: median of live offers, cheapest of catalog prices
    max_age_days: float = DEFAULT_MAX_AGE_DAYS
    providers: tuple[str, ...] = ()
    today: dt.date = field(default_factory=utc_today)

    def __post_init__(self) -> None:
        if self.tier is not None and self.tier not in TIERS:
            raise ValueError(f"--tier: must be one of {', '.join(TIERS)}, got {self.tier!r}")
        if self.stat is not None and self.stat not in STATS:
            raise ValueError(f"--price-stat: must be one of {', '.join(STATS)}, got {self.stat!r}")
        if not self.max_age_days >= 0:
            raise ValueError(f"--max-price-age: must be >= 0 days, got {self.max_age_days}")

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.tier is None:
            return DEFAULT_KINDS
        return ALL_KINDS if self.tier == "any" else (self.tier,)

    def describe(self) -> str:
        stat = self.stat or "median of live offers, cheapest catalog price"
        who = f", providers {', '.join(self.providers)}" if self.providers else ""
        return f"tier {'+'.join(self.kinds)}, {stat}, fresh if at most {self.max_age_days:g} days old{who}"


@dataclass(frozen=True)
class Candidate:
    """One price point for one GPU, from a live offer or a catalog entry."""

    usd_per_gpu_hour: float
    provider: str
    kind: str
    day: dt.date  # the latest day the price may be from
    date: str  # as published
    origin: Origin
    source: str
    detail: str  # the provider's own tier words, or instance and region
    source_kind: SourceKind = "primary"  # a catalog price read on an aggregator's page says so


@dataclass(frozen=True)
class PriceChoice:
    """The price a GPU is costed at under a policy, and everything needed to say where it came from."""

    gpu_id: str
    usd_per_hour: float  # per GPU
    provider: str  # the provider of the price nearest the figure
    providers: tuple[str, ...]  # every provider among the prices used
    kind: str  # the tier of the price nearest the figure
    stat: str  # cheapest, median, p25 or user
    offers: int  # how many prices the statistic ran over
    date: str  # of the price nearest the figure: fetch date of a live offer, as published for a catalog price
    age_days: int
    stale: bool
    origin: Origin
    source: str
    billing: Billing
    detail: str = ""
    source_kind: SourceKind = "primary"  # of the price nearest the figure (live offers: the provider's own)

    @property
    def tier_label(self) -> str:
        """``on-demand, median of 12 offers`` (one word per fact, for tables and the report)."""
        if self.origin == "user":
            return "override"
        if self.offers > 1:
            return f"{self.kind}, {self.stat} of {self.offers} {'offers' if self.origin == 'live' else 'prices'}"
        return f"{self.kind}, {self.detail}" if self.detail and self.detail != self.kind else self.kind

    @property
    def source_text(self) -> str:
        """Where the price was read, as every view says it: the page, marked when it is a third party's."""
        if self.source_kind == "aggregator":
            return f"read on a third-party aggregation, not the provider's page: {self.source}"
        return self.source

    def as_price(self) -> Price:
        """This choice as a catalog :class:`Price`, so every consumer of catalog prices sees the policy."""
        stale = f"stale: {self.age_days} days old" if self.stale else None
        kind = self.kind if self.kind in ALL_KINDS else "on-demand"
        return Price(
            provider=self.provider,
            usd_per_hour=self.usd_per_hour,
            kind=kind,
            tier=self.tier_label + (" (stale)" if self.stale else ""),
            date=self.date[:10],
            source=self.source,
            source_kind=self.source_kind,
            note=stale,
        )


def _last_day(date: str) -> dt.date:
    """The latest day a YYYY, YYYY-MM or YYYY-MM-DD date may mean."""
    parts = [int(p) for p in date.split("-")]
    if len(parts) == 3:
        return dt.date(*parts)
    if len(parts) == 2:
        return dt.date(parts[0], parts[1], calendar.monthrange(parts[0], parts[1])[1])
    return dt.date(parts[0], 12, 31)


def matches_provider(provider: str, wanted: Sequence[str]) -> bool:
    """Whether ``provider`` is one of ``wanted`` (by a part of its name or by an alias); an empty list wants all."""
    if not wanted:
        return True
    entry = find_provider(provider)
    return any(w.lower() in provider.lower() or (entry is not None and find_provider(w) is entry) for w in wanted)


def _candidates(gpu: GpuSpec, offers: Sequence[Offer]) -> list[Candidate]:
    out = [
        Candidate(
            usd_per_gpu_hour=o.usd_per_gpu_hour,
            provider=o.provider,
            kind=o.tier,
            day=o.fetched_date,
            date=o.fetched_at,
            origin="live",
            source=f"{LIVE_SOURCES.get(o.provider, GPUHUNT_URL)} ({o.provider}, fetched {o.fetched_at})",
            detail=f"{o.instance} {o.region}" + (f", {o.gpu_count} GPUs" if o.gpu_count > 1 else ""),
        )
        for o in offers
    ]
    out += [
        Candidate(
            p.usd_per_hour,
            p.provider,
            p.kind,
            _last_day(p.date),
            p.date,
            "catalog",
            p.source,
            p.tier or "",
            p.source_kind,
        )
        for p in gpu.prices
        if p.provider != USER_PROVIDER
    ]
    return out


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (the default of numpy.quantile)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _summarise(values: list[float], stat: str) -> float:
    if stat == "cheapest":
        return min(values)
    if stat == "median":
        return statistics.median(values)
    return _quantile(values, 0.25)


def _pool(cands: list[Candidate], policy: PricePolicy) -> tuple[list[Candidate], bool]:
    """The prices to summarise and whether they are stale (rule 3)."""
    fresh = [c for c in cands if (policy.today - c.day).days <= policy.max_age_days]
    for origin in ("live", "catalog"):
        pool = [c for c in fresh if c.origin == origin]
        if pool:
            return pool, False
    newest = max(c.day for c in cands)
    newest_of = [c for c in cands if c.day == newest]
    live = [c for c in newest_of if c.origin == "live"]
    return live or newest_of, True


def choose_price(gpu: GpuSpec, offers: Sequence[Offer], policy: PricePolicy) -> PriceChoice | None:
    """The price ``gpu`` is costed at under ``policy``, or None when no price passes its filters."""
    user = [p for p in gpu.prices if p.provider == USER_PROVIDER]
    if user:
        p = user[0]
        return PriceChoice(
            gpu.id, p.usd_per_hour, p.provider, (p.provider,), "user", "user", 1, p.date, 0, False, "user",
            p.source, billing_for(p.provider), p.tier or "",
        )  # fmt: skip
    cands = [
        c for c in _candidates(gpu, offers) if c.kind in policy.kinds and matches_provider(c.provider, policy.providers)
    ]
    if not cands:
        return None
    pool, stale = _pool(cands, policy)
    stat = policy.stat or ("median" if pool[0].origin == "live" else "cheapest")
    value = _summarise([c.usd_per_gpu_hour for c in pool], stat)
    nearest = min(pool, key=lambda c: (abs(c.usd_per_gpu_hour - value), -c.day.toordinal(), c.usd_per_gpu_hour))
    return PriceChoice(
        gpu_id=gpu.id,
        usd_per_hour=value,
        provider=nearest.provider,
        providers=tuple(sorted({c.provider for c in pool})),
        kind=nearest.kind,
        stat=stat,
        offers=len(pool),
        date=nearest.date[:10] if nearest.origin == "live" else nearest.date,
        age_days=(policy.today - nearest.day).days,
        stale=stale,
        origin=nearest.origin,
        source=nearest.source,
        billing=billing_for(nearest.provider),
        detail=nearest.detail,
        source_kind=nearest.source_kind,
    )


def choose_prices(catalog: Catalog, cache: PriceCache | None, policy: PricePolicy) -> dict[str, PriceChoice | None]:
    """The policy's price for every catalog GPU (None where nothing passes)."""
    offers = cache.offers if cache is not None else ()
    by_gpu: dict[str, list[Offer]] = {}
    for o in (o for o in offers if not o.flagged):  # a flagged offer (an implausible price) prices nothing
        by_gpu.setdefault(o.gpu_id, []).append(o)
    return {gid: choose_price(gpu, by_gpu.get(gid, []), policy) for gid, gpu in catalog.gpus.items()}


def priced_catalog(catalog: Catalog, choices: dict[str, PriceChoice | None]) -> Catalog:
    """A copy of ``catalog`` whose GPUs each carry only their chosen price (none where nothing passed).

    Everything that prices from the catalog (projections, the model comparison, the report's tables) then
    uses the policy's price without knowing about it.
    """
    gpus = {
        gid: gpu.model_copy(update={"prices": [c.as_price()] if (c := choices.get(gid)) else []})
        for gid, gpu in catalog.gpus.items()
    }
    return Catalog(
        gpus=gpus, published_timings=catalog.published_timings, files=catalog.files, guide_vram=catalog.guide_vram
    )


__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "STATS",
    "TIERS",
    "PriceChoice",
    "PricePolicy",
    "choose_price",
    "choose_prices",
    "matches_provider",
    "priced_catalog",
    "utc_today",
]

"""The local price cache: live offers mapped onto catalog GPUs, each with its provider, instance, region,
GPU count, spot flag and the time it was fetched.

One JSON document (``prices/offers.json`` under ``KBENCH_CACHE_DIR``, else under the user cache directory),
written atomically, so a reader never sees half a refresh and a failed refresh leaves the previous file as
it was. A refresh replaces the offers of each provider it reached and keeps, with their older fetch time,
those of providers it did not; the price policy then judges every offer by its own age.

Every cost command reads the file, so reading it is strict: a file that is not what a refresh writes
(nested too deeply, over :data:`MAX_CACHE_BYTES`, a fetch time that is not an ISO 8601 date, a price that
is not a finite number within :data:`MIN_USD_PER_HOUR`..:data:`MAX_USD_PER_HOUR`) is one
:class:`PriceCacheError` line naming the file and the field, never a guess: prices decide rankings, and a
silently ignored cache would price every GPU from the catalog without saying why. ``kbench prices refresh``
replaces such a file (with a warning).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from bench.cache import cache_home
from bench.errors import KbenchError, clip, located
from bench.files import decode_text, read_bytes_capped

CACHE_SCHEMA_VERSION = 3  # 2: offers may carry the host they run on (marketplace offers); 3: its measured link
CACHE_FILE = Path("prices") / "offers.json"
# A refresh of every provider writes a few MB (hundreds of bytes per offer); 64 MiB is far beyond that and
# still parses in bounded memory.
MAX_CACHE_BYTES = 64 * 1024 * 1024
# The price of one whole instance per hour: the dearest 8-GPU instances list around $100/h, the cheapest
# marketplace cards a few cents. Outside these, an offer is a corrupt or hand-edited file, and
# products (sessions, $ per 1000 images) or quotients (images per $) would leave the finite floats.
MIN_USD_PER_HOUR = 1e-4
MAX_USD_PER_HOUR = 1e5
MAX_GPU_COUNT = 1024  # GPUs of one instance (gpuhunt's largest list 16)
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN and Infinity are damage


class PriceCacheError(KbenchError):
    """The price cache is missing, unreadable or of another version (exit code 2)."""


def parse_fetch_time(value: str) -> dt.datetime:
    """An ISO 8601 time as a refresh writes it (``2026-01-01T00:00:00Z``; a plain date reads as midnight).

    Raises:
        ValueError: it is not one, naming the form expected.
    """
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{clip(value)} is not an ISO 8601 time like 2026-01-31T12:00:00Z") from None


def _iso_time(value: str) -> str:
    parse_fetch_time(value)
    return value


def _optional_iso_time(value: str | None) -> str | None:
    return None if value is None else _iso_time(value)


IsoTime = Annotated[str, AfterValidator(_iso_time)]
OptionalIsoTime = Annotated[str | None, AfterValidator(_optional_iso_time)]
Count = Annotated[int, Field(ge=0)]


class Host(BaseModel):
    """The machine behind a marketplace offer: what changes an image's cost from one host to the next.

    Every field may be unknown (None): providers list different facts, and a missing one is never guessed.
    ``raw_price`` and ``price_unit`` keep the price as the provider published it before it was normalised to
    the offer's ``usd_per_hour``; ``renter_fee`` is the fraction added to it; ``flags`` say why an offer is
    not to be trusted (an implausible price), and a flagged offer prices nothing.
    """

    model_config = _STRICT

    id: str = Field(min_length=1)
    country: str | None = None
    reliability: float | None = Field(default=None, ge=0, le=1)
    pcie_gen: int | None = Field(default=None, ge=1, le=6)
    pcie_width: int | None = Field(default=None, ge=1, le=32)
    pcie_gb_s: float | None = Field(default=None, gt=0, le=1e4)  # host-to-GPU bandwidth as the marketplace measured it
    disk_mb_s: float | None = Field(default=None, gt=0, le=1e6)
    net_down_mbit_s: float | None = Field(default=None, gt=0, le=1e7)
    net_up_mbit_s: float | None = Field(default=None, gt=0, le=1e7)
    cpu: str | None = None
    ram_gb: float | None = Field(default=None, ge=0, le=1e6)
    cuda: str | None = None
    max_rental_hours: float | None = Field(default=None, gt=0, le=1e6)
    min_rental_hours: float | None = Field(default=None, ge=0, le=1e6)
    raw_price: float | None = Field(default=None, ge=0, le=1e9)
    price_unit: str | None = None  # what raw_price is per, as assumed ("USD/day per server")
    renter_fee: float = Field(default=0.0, ge=0, le=1)
    flags: tuple[str, ...] = ()


class Offer(BaseModel):
    """One rentable instance as a provider lists it, mapped onto a catalog GPU."""

    model_config = _STRICT

    provider: str = Field(min_length=1)
    instance: str
    region: str
    gpu_id: str = Field(min_length=1)  # catalog id
    gpu_name: str  # as gpuhunt names it
    gpu_memory_gb: float | None = Field(default=None, ge=0, le=1e6)
    gpu_count: int = Field(ge=1, le=MAX_GPU_COUNT)
    usd_per_hour: float = Field(ge=MIN_USD_PER_HOUR, le=MAX_USD_PER_HOUR)  # the whole instance
    spot: bool
    tier: Literal["on-demand", "spot", "marketplace"]
    fetched_at: IsoTime  # ISO 8601, UTC
    assumption: str | None = None  # the variant assumed where gpuhunt's name covers two cards
    host: Host | None = None  # the machine, where the provider lists it (marketplaces)

    @property
    def flagged(self) -> bool:
        """An offer whose price is not to be trusted (see :class:`Host`): it prices nothing."""
        return self.host is not None and bool(self.host.flags)

    @property
    def usd_per_gpu_hour(self) -> float:
        """A multi-GPU instance priced per GPU: its price over its GPU count."""
        return self.usd_per_hour / self.gpu_count

    @property
    def fetched_date(self) -> dt.date:
        return parse_fetch_time(self.fetched_at).date()


class ProviderStatus(BaseModel):
    """What the last refresh got from one provider."""

    model_config = _STRICT

    fetched_at: OptionalIsoTime = None  # when its offers in the cache were fetched; None: never
    offers: Count = 0
    warning: str | None = None  # why the last refresh got nothing from it


class PriceCache(BaseModel):
    """The whole cache document."""

    model_config = _STRICT

    schema_version: int = CACHE_SCHEMA_VERSION
    refreshed_at: IsoTime
    source: str  # the library and version that fetched the offers
    offers: tuple[Offer, ...] = ()
    providers: dict[str, ProviderStatus] = Field(default_factory=dict)
    unmapped: dict[str, Count] = Field(default_factory=dict)  # "gpuhunt name, memory" -> offers not in the catalog

    def for_gpu(self, gpu_id: str) -> list[Offer]:
        return [o for o in self.offers if o.gpu_id == gpu_id]


def price_cache_path() -> Path | None:
    """Where the price cache lives, or None when ``KBENCH_CACHE_DIR=off``."""
    home = cache_home()
    return None if home is None else home / CACHE_FILE


def load_price_cache(path: Path | None = None) -> PriceCache | None:
    """The cache at ``path`` (default :func:`price_cache_path`), or None when there is none.

    Raises:
        PriceCacheError: the file exists but is damaged or newer than this kbench reads.
    """
    path = path or price_cache_path()
    if path is None or not path.is_file():
        return None
    text = decode_text(read_bytes_capped(path, "price cache", PriceCacheError, MAX_CACHE_BYTES), path, "price cache",
                       PriceCacheError)  # fmt: skip
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceCacheError(f"{path}: price cache is unreadable ({exc}); run kbench prices refresh") from None
    except RecursionError:
        raise PriceCacheError(
            f"{path}: price cache is unreadable (nested too deeply for a cache); run kbench prices refresh"
        ) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and version > CACHE_SCHEMA_VERSION:
        raise PriceCacheError(
            located(f"price cache version {clip(version)} is newer than this kbench reads", file=path)
        )
    try:
        return PriceCache.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])[:200] or "top level"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise PriceCacheError(
            f"{path}: price cache is damaged ({where}: {message}); run kbench prices refresh"
        ) from None


def save_price_cache(cache: PriceCache, path: Path | None = None) -> Path:
    """Write the cache atomically (temporary file, then rename); return its path.

    Raises:
        PriceCacheError: caching is off, or the directory cannot be written.
    """
    path = path or price_cache_path()
    if path is None:
        raise PriceCacheError("KBENCH_CACHE_DIR=off: there is no price cache to write; unset it or give a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(cache.model_dump_json(indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        raise PriceCacheError(f"{path}: cannot write the price cache ({exc.strerror or exc})") from None
    return path


def merge_refresh(
    previous: PriceCache | None,
    fetched: dict[str, list[Offer]],
    warnings: dict[str, str],
    *,
    refreshed_at: str,
    source: str,
    unmapped: dict[str, int],
) -> PriceCache:
    """The cache after a refresh: fetched providers replaced, the others' previous offers kept."""
    old = previous.offers if previous else ()
    kept = [o for o in old if o.provider not in fetched]
    offers = [*kept, *(o for items in fetched.values() for o in items)]
    status = dict(previous.providers) if previous else {}
    for provider, items in fetched.items():
        status[provider] = ProviderStatus(fetched_at=refreshed_at, offers=len(items))
    for provider, warning in warnings.items():
        before = status.get(provider, ProviderStatus())
        status[provider] = before.model_copy(update={"warning": warning})
    return PriceCache(
        refreshed_at=refreshed_at,
        source=source,
        offers=tuple(sorted(offers, key=lambda o: (o.gpu_id, o.usd_per_gpu_hour, o.provider))),
        providers=dict(sorted(status.items())),
        unmapped=dict(sorted(unmapped.items())),
    )


__all__ = [
    "CACHE_SCHEMA_VERSION",
    "MAX_CACHE_BYTES",
    "MAX_USD_PER_HOUR",
    "MIN_USD_PER_HOUR",
    "Host",
    "Offer",
    "PriceCache",
    "PriceCacheError",
    "ProviderStatus",
    "load_price_cache",
    "merge_refresh",
    "parse_fetch_time",
    "price_cache_path",
    "save_price_cache",
]

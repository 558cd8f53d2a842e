"""What the marketplace price sources (CLORE.AI, Vast.ai) share: lenient readers, polling, plausibility, offers.

A marketplace lists hosts, each described by its owner; a field may be missing, a string where a number is
expected, or absurd. :func:`number`, :func:`integer` and :func:`text` read one field each and answer None for
anything that is not a sane value, so one odd host never costs the others. A marketplace also asks to be
polled gently: :func:`too_soon` keeps the cached offers of a provider fetched less than a minute ago. A price
that makes no sense per GPU-hour (a host who typed a daily price as hourly, a misplaced decimal point) is kept
but flagged (:func:`implausible`), so it prices nothing. :func:`host_offer` turns a gpuhunt ``CatalogItem``
whose ``provider_data`` carries the host's facts into a cached :class:`~bench.cost.prices.cache.Offer`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from gpuhunt import CatalogItem, QueryFilter
from gpuhunt.providers.base import OnlineProvider

from bench.cost.prices.cache import Host, Offer, PriceCache, parse_fetch_time
from bench.cost.prices.providers import offer_kind
from bench.errors import KbenchError, clip

T = TypeVar("T")
MIN_POLL_S = 60.0  # both marketplaces ask for polling intervals of a minute or more
# $ per GPU-hour outside which a listed price is implausible: the Kandinsky guide's cheapest card rents for
# about $0.03/h, and the dearest data-centre GPUs list below $10/h anywhere.
PLAUSIBLE_USD_PER_GPU_HOUR = (0.01, 20.0)
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a whole marketplace is a few MB


class MarketplaceProvider(OnlineProvider):
    """A marketplace as a gpuhunt online provider: where it is asked, with which key (from ``KEY_VARIABLE`` when
    set), and why entries gave no item (``skipped``, for the refresh to report). Subclasses give ``NAME``,
    ``KEY_VARIABLE``, ``default_url`` and ``get``."""

    KEY_VARIABLE: str

    def __init__(self, base_url: str | None = None, api_key: str | None = None) -> None:
        self.base_url = base_url or self.default_url()
        self.api_key = api_key
        self.skipped: Counter[str] = Counter()

    @staticmethod
    def default_url() -> str:
        raise NotImplementedError

    @classmethod
    def from_env(cls) -> Self:
        return cls(cls.default_url(), os.environ.get(cls.KEY_VARIABLE) or None)

    def get(
        self, query_filter: QueryFilter | None = None, balance_resources: bool = True, apply_filter: bool = False
    ) -> list[CatalogItem]:
        """Every rentable host as items (on demand, and spot where the host lists a spot price), cheapest first;
        why the other entries gave none is counted in ``skipped``.

        Raises:
            CloreApiError, VastApiError: (from :meth:`listings`) the marketplace's answer could not be read.
        """
        listings, unreadable = self.listings()
        self.skipped = Counter({"unreadable": unreadable} if unreadable else {})
        items: list[CatalogItem] = []
        for listing in listings:
            reason = self.skip(listing)
            if reason:
                self.skipped[reason] += 1
            else:
                items.extend(self.items(listing))
        return sorted(items, key=lambda i: i.price)

    def listings(self) -> tuple[list[Any], int]:
        """The readable entries of the marketplace's answer, and how many were not readable."""
        raise NotImplementedError

    def skip(self, listing: Any) -> str | None:
        """Why ``listing`` gives no item (rented, no GPU, no price, ...), or None."""
        raise NotImplementedError

    def items(self, listing: Any) -> list[CatalogItem]:
        """The items of a listing :meth:`skip` kept."""
        raise NotImplementedError


def api_url(variable: str, default: str) -> str:
    """A marketplace's API base URL: the environment ``variable`` (a recorded server in tests) or ``default``.

    Raises:
        KbenchError: the variable is set to something that is not an http(s) URL (exit code 2).
    """
    url = os.environ.get(variable, "").strip() or default
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise KbenchError(f"{variable}: must be an http(s) URL like {default}, got {clip(url)}")
    return url.rstrip("/")


def fetch_json(request: urllib.request.Request, error: type[Exception], timeout_s: float) -> Any:
    """The JSON answer of ``request``, read whole but at most :data:`MAX_RESPONSE_BYTES`.

    Raises:
        error: no answer, an HTTP error, an answer too big or not JSON, each naming the URL.
    """
    where = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise error(f"HTTP {exc.code} from {where}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise error(f"cannot reach {where} ({' '.join(str(reason).split())[:160]})") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise error(f"the answer of {where} is over {MAX_RESPONSE_BYTES // 2**20} MiB")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise error(f"the answer of {where} is not JSON") from None


def number(value: object, *, low: float = 0.0, high: float = 1e9, strict_low: bool = False) -> float | None:
    """A finite number within ``low``..``high`` (above ``low`` when ``strict_low``), from a number or a numeric
    string; None for anything else (booleans, text, NaN, out of range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        result = float(value)
    except ValueError:
        return None
    if not math.isfinite(result) or result > high or result < low or (strict_low and result == low):
        return None
    return result


def integer(value: object, low: int, high: int) -> int | None:
    """A whole number within ``low``..``high`` (``4.0`` counts), else None."""
    result = number(value, low=low, high=high)
    return int(result) if result is not None and result == int(result) else None


def text(value: object, limit: int = 120) -> str | None:
    """A non-empty string with its whitespace collapsed, cut at ``limit`` characters, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split())[:limit]


def read_all(entries: object, read: Callable[[Any], T | None]) -> tuple[list[T], int]:
    """Every entry ``read`` makes sense of, and how many it could not (a list that is not a list: none)."""
    out: list[T] = []
    unreadable = 0
    for entry in entries if isinstance(entries, list) else []:
        item = read(entry)
        if item is None:
            unreadable += 1
        else:
            out.append(item)
    return out, unreadable


def too_soon(previous: PriceCache | None, provider: str, now: dt.datetime, why: str) -> str | None:
    """Why ``provider`` is not asked again now (fetched under :data:`MIN_POLL_S` ago), or None to ask it."""
    status = previous.providers.get(provider) if previous else None
    if status is None or status.fetched_at is None:
        return None
    age = (now - parse_fetch_time(status.fetched_at)).total_seconds()
    if 0 <= age < MIN_POLL_S:
        return f"fetched {age:.0f} s ago; {why}, so its {status.offers} cached offers are kept"
    return None


def implausible(usd_per_gpu_hour: float, raw: float, unit: str) -> tuple[str, ...]:
    """The flag of a price outside :data:`PLAUSIBLE_USD_PER_GPU_HOUR` per GPU-hour, or none."""
    low, high = PLAUSIBLE_USD_PER_GPU_HOUR
    if low <= usd_per_gpu_hour <= high:
        return ()
    return (f"implausible: {raw:g} {unit} is ${usd_per_gpu_hour:.4f}/GPU-hour, outside ${low:g}-{high:g}",)


# The facts of a host that both marketplaces list, named as :class:`~bench.cost.prices.cache.Host` reads them.
HOST_FACTS = (
    "reliability",
    "max_rental_hours",
    "pcie_gen",
    "pcie_width",
    "disk_mb_s",
    "net_down_mbit_s",
    "net_up_mbit_s",
    "cpu",
    "cuda",
)


def host_facts(listing: object) -> dict[str, Any]:
    """A listing's :data:`HOST_FACTS` (each None where the marketplace did not list it), for ``provider_data``."""
    return {name: getattr(listing, name) for name in HOST_FACTS}


def host_offer(item: CatalogItem, gpu_id: str, fetched_at: str, *, min_rental_hours: float,
               assumption: str | None = None) -> Offer:  # fmt: skip
    """The cached offer of one marketplace item, its host's facts read from ``provider_data``.

    ``provider_data`` carries ``host`` and ``instance`` (how the marketplace names the machine and the offer),
    ``gpu_model`` (its own GPU name), ``raw_price`` in ``price_unit`` (read from ``price_field``), the
    ``renter_fee`` added, and the host's facts under the names of :class:`~bench.cost.prices.cache.Host`;
    a fact the marketplace did not list is None.

    Raises:
        ValueError: a price or size the cache would refuse to read back.
    """
    data: dict[str, Any] = item.provider_data
    unit, field = str(data["price_unit"]), data.get("price_field")
    host = Host(
        id=str(data["host"]),
        country=item.location.upper() or None,
        reliability=data.get("reliability"),
        pcie_gen=data.get("pcie_gen"),
        pcie_width=data.get("pcie_width"),
        pcie_gb_s=data.get("pcie_gb_s"),
        disk_mb_s=data.get("disk_mb_s"),
        net_down_mbit_s=data.get("net_down_mbit_s"),
        net_up_mbit_s=data.get("net_up_mbit_s"),
        cpu=data.get("cpu"),
        ram_gb=item.memory or None,
        cuda=data.get("cuda"),
        max_rental_hours=data.get("max_rental_hours"),
        min_rental_hours=min_rental_hours,
        raw_price=data["raw_price"],
        price_unit=f"{unit} ({field})" if field else unit,
        renter_fee=data.get("renter_fee") or 0.0,
        flags=implausible(item.price / item.gpu_count, data["raw_price"], unit),
    )
    return Offer(
        provider=item.provider,
        instance=str(data["instance"]),
        region=item.location.upper(),
        gpu_id=gpu_id,
        gpu_name=str(data["gpu_model"]),
        gpu_memory_gb=item.gpu_memory,
        gpu_count=item.gpu_count,
        usd_per_hour=item.price,
        spot=item.spot,
        tier=offer_kind(item.provider, item.spot),
        fetched_at=fetched_at,
        assumption=assumption,
        host=host,
    )


__all__ = [
    "MIN_POLL_S",
    "PLAUSIBLE_USD_PER_GPU_HOUR",
    "host_offer",
    "implausible",
    "integer",
    "number",
    "text",
    "too_soon",
]

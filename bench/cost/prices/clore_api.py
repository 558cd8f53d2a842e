"""The CLORE.AI marketplace as data: one HTTP call, and each server of its answer read into a :class:`Listing`.

``GET {KBENCH_CLORE_API_URL}/marketplace`` (default ``https://api.clore.ai/v1``) returns every server of the
marketplace in one JSON document. Clore's SDK calls it without a key while another page of Clore's docs says
every request carries an ``auth`` header, so the header is sent when ``CLORE_API_KEY`` is set and left out
otherwise. Clore allows one request a second; the price source above this module polls at most once a minute.

**The unit of the USD price.** ``price.usd.on_demand_usd`` (and ``price.usd.spot``) is taken as US dollars
**per day for the whole server**. Clore's own API reference states every price it documents per day (a server's
``pricing`` is "Price/day on-demand", ``min_spot_pricing`` the "Minimal price/day", ``set_spot_price`` sets the
"price per day"; https://clore.ai/assets/html/api.html, the same table at https://docs.clore.ai/for-hosts/api),
and its CLI and SDK guide says of spot orders "you set your price per day"
(https://docs.clore.ai/developers/cli-sdk). The ``clore-ai`` SDK (0.1.1) labels the same field "Price/h (USD)"
in its CLI table without a source; the reference wins. The raw value and this unit stay with every offer, and a
price that is implausible when read this way is flagged (:mod:`bench.cost.prices.clore_source`), never silently
used.

The marketplace is hand-fed by hosts, so a server entry is read leniently: a missing field is unknown (None),
``gpu_array`` may be nested (``[["GTX 745"]]``), reliability may be a fraction or a percentage; an entry that is
not an object with an ``id`` is counted as unreadable and skipped. The document as a whole is read strictly: an
answer that is not JSON, not an object, over the size limit, or with a ``code`` other than 0 is a
:class:`CloreApiError` naming what it was.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.cost.prices.marketplace import api_url as marketplace_api_url
from bench.cost.prices.marketplace import fetch_json, integer, number, read_all, text
from bench.errors import clip

API_URL_VARIABLE = "KBENCH_CLORE_API_URL"
API_KEY_VARIABLE = "CLORE_API_KEY"
DEFAULT_API_URL = "https://api.clore.ai/v1"
API_REFERENCE = "https://clore.ai/assets/html/api.html"
TIMEOUT_S = 30.0
PRICE_UNIT = "USD/day per server"  # see the module docstring
HOURS_PER_PRICE_UNIT = 24.0
CODES = {1: "database error", 2: "invalid input data", 3: "invalid API token", 4: "invalid endpoint",
         5: "more than 1 request/second", 6: "error"}  # fmt: skip
_COUNT_PREFIX = re.compile(r"^\s*(\d+)\s*x\s+", re.IGNORECASE)


class CloreApiError(Exception):
    """The marketplace could not be fetched or its answer is not a marketplace document (a warning, not exit 2)."""


def api_url() -> str:
    """The API base URL: ``KBENCH_CLORE_API_URL`` or the provider's own.

    Raises:
        KbenchError: the variable is set to something that is not an http(s) URL (exit code 2).
    """
    return marketplace_api_url(API_URL_VARIABLE, DEFAULT_API_URL)


def fetch_marketplace(base_url: str, api_key: str | None = None, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """The marketplace document (``{"servers": [...], "code": 0}``).

    Raises:
        CloreApiError: no answer, an HTTP error, an answer too big, not JSON, or a ``code`` other than 0.
    """
    request = urllib.request.Request(f"{base_url}/marketplace", headers={"Accept": "application/json"})
    if api_key:
        request.add_header("auth", api_key)
    data = fetch_json(request, CloreApiError, timeout_s)
    if not isinstance(data, dict):
        raise CloreApiError(f"the answer of {base_url}/marketplace is not a JSON object")
    code = data.get("code", 0)
    if code != 0:
        raise CloreApiError(f"{base_url}/marketplace answered code {clip(code)} ({CODES.get(code, 'unknown')})")
    if not isinstance(data.get("servers"), list):
        raise CloreApiError(f"the answer of {base_url}/marketplace has no 'servers' list")
    return data


@dataclass(frozen=True)
class Listing:
    """One server of the marketplace, as far as its entry says (None: not stated)."""

    id: str
    rented: bool
    gpu_names: tuple[str, ...]  # one per GPU, count prefix removed ("NVIDIA GeForce RTX 4090")
    gpu_memory_gb: float | None
    on_demand_usd: float | None  # raw, per PRICE_UNIT
    on_demand_field: str | None  # which field of price.usd it came from
    spot_usd: float | None  # raw, per PRICE_UNIT
    reliability: float | None  # 0..1
    max_rental_hours: float | None  # ``mrl``
    country: str | None
    pcie_gen: int | None
    pcie_width: int | None
    disk_mb_s: float | None
    net_down_mbit_s: float | None
    net_up_mbit_s: float | None
    cpu: str | None
    ram_gb: float | None
    cuda: str | None

    @property
    def gpu_count(self) -> int:
        return len(self.gpu_names)

    @property
    def mixed(self) -> bool:
        """A server with GPUs of more than one model: its one price cannot be split between them."""
        return len({_key(n) for n in self.gpu_names}) > 1


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def _flatten(value: object, depth: int = 0) -> list[str]:
    """``gpu_array`` entries as strings, nested lists flattened (Clore sends ``[["GTX 745"]]`` for some hosts)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list) and depth < 4:
        return [name for item in value for name in _flatten(item, depth + 1)]
    return []


def _gpu_names(entry: Mapping[str, Any], specs: Mapping[str, Any]) -> tuple[str, ...]:
    """One name per GPU: ``gpu_array`` when given, else the ``specs.gpu`` text ("2x NVIDIA GeForce RTX 3090")."""
    names = [" ".join(_COUNT_PREFIX.sub("", n).split()) for n in _flatten(entry.get("gpu_array"))]
    if names:
        return tuple(names)
    listed = text(specs.get("gpu"), 200)
    if listed is None:
        return ()
    out: list[str] = []
    for part in listed.split(","):  # "1x NVIDIA GeForce RTX 3090, 1x NVIDIA GeForce RTX 3080" on a mixed host
        match = _COUNT_PREFIX.match(part)
        count = int(match.group(1)) if match else 1
        name = " ".join(_COUNT_PREFIX.sub("", part).split())
        if name and 0 < count <= 64:
            out += [name] * count
    return tuple(out)


def _reliability(value: object) -> float | None:
    share = number(value, high=100.0)
    if share is None:
        return None
    return share / 100.0 if share > 1.0 else share  # a percentage on some answers, a fraction on others


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def read_listing(entry: object) -> Listing | None:
    """A server entry as a :class:`Listing`, or None when it is not one (no object, no ``id``)."""
    if not isinstance(entry, dict):
        return None
    server_id = entry.get("id")
    if isinstance(server_id, bool) or not isinstance(server_id, (int, str)) or not str(server_id).strip():
        return None
    specs = _dict(entry.get("specs"))
    net = _dict(specs.get("net"))
    usd = _dict(_dict(entry.get("price")).get("usd"))
    on_demand, on_demand_field = None, None
    for name in ("on_demand_usd", "on_demand_clore", "on_demand_btc"):  # the USD price, else its coin equivalents
        on_demand = number(usd.get(name), strict_low=True)
        if on_demand is not None:
            on_demand_field = name
            break
    country = text(net.get("cc"), 8)
    return Listing(
        id=str(server_id).strip()[:40],
        rented=entry.get("rented") is True,
        gpu_names=_gpu_names(entry, specs),
        gpu_memory_gb=number(specs.get("gpuram"), high=1e4, strict_low=True),
        on_demand_usd=on_demand,
        on_demand_field=on_demand_field,
        spot_usd=number(usd.get("spot"), strict_low=True),
        reliability=_reliability(entry.get("reliability")),
        max_rental_hours=number(entry.get("mrl"), high=1e6, strict_low=True),
        country=country.upper() if country else None,
        pcie_gen=integer(specs.get("pcie_rev"), 1, 6),
        pcie_width=integer(specs.get("pcie_width"), 1, 32),
        disk_mb_s=number(specs.get("disk_speed"), high=1e6, strict_low=True),
        net_down_mbit_s=number(net.get("down"), high=1e7, strict_low=True),
        net_up_mbit_s=number(net.get("up"), high=1e7, strict_low=True),
        cpu=text(specs.get("cpu")),
        ram_gb=number(specs.get("ram"), high=1e6),
        cuda=text(entry.get("cuda_version"), 16),
    )


def read_listings(document: Mapping[str, Any]) -> tuple[list[Listing], int]:
    """Every readable server of a marketplace document, and how many entries were not readable."""
    return read_all(document.get("servers"), read_listing)


__all__ = [
    "API_KEY_VARIABLE",
    "API_REFERENCE",
    "API_URL_VARIABLE",
    "DEFAULT_API_URL",
    "HOURS_PER_PRICE_UNIT",
    "PRICE_UNIT",
    "CloreApiError",
    "Listing",
    "api_url",
    "fetch_marketplace",
    "read_listing",
    "read_listings",
]

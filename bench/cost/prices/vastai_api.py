"""Vast.ai's marketplace as data: one search of its offers, and each offer of the answer read into a :class:`Listing`.

``POST {KBENCH_VASTAI_API_URL}/bundles/`` (default ``https://console.vast.ai/api/v0``) answers ``{"offers":
[...]}``, the rentable offers matching the search in the body. It is the call gpuhunt's ``vastai`` provider makes,
without a key; the API reference shows an ``Authorization: Bearer`` header, so it is sent when ``VAST_API_KEY``
is set. gpuhunt keeps only the price, CPU, memory, disk and GPU of each offer, so the facts that make two hosts
with the same card cost differently per image are read here from the same answer.

**The fields read** (the API reference, https://docs.vast.ai/api-reference/search/search-offers, and the field
list of Vast's own CLI, ``vastai search offers --help``): ``id`` the offer (what a rental names), ``machine_id``
the machine, ``host_id`` its owner; ``gpu_name`` ("RTX 4090"), ``num_gpus``, ``gpu_ram`` (MB per GPU);
``dph_base`` the host's price in $/hour for the offer's GPUs, ``storage_cost`` in $/GB/month, ``min_bid`` the
current minimum bid in $/hour for an interruptible rental; ``reliability`` (0-1); ``duration`` the seconds the
host allows a rental to run; ``geolocation`` ("Quebec, CA"); ``pci_gen``, ``gpu_lanes`` and ``pcie_bw`` (the
host-to-GPU bandwidth Vast measured, GB/s); ``disk_bw`` (MB/s); ``inet_down`` and ``inet_up`` (Mbit/s);
``cpu_name``, ``cpu_ram`` (MB), ``cpu_cores``, ``cpu_cores_effective``; ``cuda_max_good``; ``rentable``,
``rented``.

An offer is read leniently (a missing or absurd field is unknown, None), the document strictly: an answer that is
not a JSON object with an ``offers`` list, or over the size limit, is a :class:`VastApiError`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.cost.prices.marketplace import api_url as marketplace_api_url
from bench.cost.prices.marketplace import fetch_json, integer, number, read_all, text

API_URL_VARIABLE = "KBENCH_VASTAI_API_URL"
API_KEY_VARIABLE = "VAST_API_KEY"
DEFAULT_API_URL = "https://console.vast.ai/api/v0"
API_REFERENCE = "https://docs.vast.ai/api-reference/search/search-offers"
TIMEOUT_S = 30.0
SEARCH_LIMIT = 3000  # gpuhunt's own limit when it fetches every offer
# The search: rentable offers not rented now, in Vast's own score order (gpuhunt's filter and order).
SEARCH = {"rentable": {"eq": True}, "rented": {"eq": False}, "num_gpus": {"gte": 1}, "order": [["score", "desc"]],
          "type": "on-demand", "limit": SEARCH_LIMIT}  # fmt: skip
PRICE_UNIT = "USD/hour per offer"
MB_PER_GB = 1024.0  # gpu_ram is in MB of 2**20 bytes: 24564 for a 24 GB card
HOURS_PER_MONTH = 720.0  # storage_cost is per GB and 30-day month, as gpuhunt divides it


class VastApiError(Exception):
    """The offers could not be fetched or the answer is not an offer list (a warning, not exit 2)."""


def api_url() -> str:
    """The API base URL: ``KBENCH_VASTAI_API_URL`` or the provider's own.

    Raises:
        KbenchError: the variable is set to something that is not an http(s) URL (exit code 2).
    """
    return marketplace_api_url(API_URL_VARIABLE, DEFAULT_API_URL)


def fetch_bundles(base_url: str, api_key: str | None = None, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """The search answer (``{"offers": [...]}``) for :data:`SEARCH`.

    Raises:
        VastApiError: no answer, an HTTP error, an answer too big, not JSON, or without an ``offers`` list.
    """
    where = f"{base_url}/bundles/"
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(where, data=json.dumps(SEARCH).encode(), headers=headers, method="POST")
    data = fetch_json(request, VastApiError, timeout_s)
    if not isinstance(data, dict) or not isinstance(data.get("offers"), list):
        raise VastApiError(f"the answer of {where} has no 'offers' list")
    return data


@dataclass(frozen=True)
class Listing:
    """One offer of the answer, as far as it says (None: not stated)."""

    id: str
    machine_id: str | None
    host_id: str | None
    available: bool  # rentable and not rented
    gpu_name: str | None  # Vast's name ("RTX 4090", "A100 SXM4")
    gpu_count: int | None
    gpu_memory_gb: float | None
    amd: bool
    dph_base: float | None  # $/hour for the offer's GPUs
    storage_usd_gb_month: float | None
    min_bid: float | None  # $/hour, interruptible
    reliability: float | None
    max_rental_hours: float | None
    country: str | None
    pcie_gen: int | None
    pcie_width: int | None
    pcie_gb_s: float | None
    disk_mb_s: float | None
    net_down_mbit_s: float | None
    net_up_mbit_s: float | None
    cpu: str | None
    ram_gb: float | None  # the offer's share of the machine's RAM
    cuda: str | None


def _country(value: object) -> str | None:
    """The country code of ``"Quebec, CA"`` or ``"US"``; None when the text ends in anything else."""
    place = text(value, 80)
    if place is None:
        return None
    code = place.rsplit(",", 1)[-1].strip()
    return code.upper() if len(code) == 2 and code.isalpha() else None


def _id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
        return None
    return str(value).strip()[:40]


def _ram_share(entry: Mapping[str, Any]) -> float | None:
    """The offer's RAM in GB: the machine's, times its share of the cores (as gpuhunt reads it)."""
    ram_mb = number(entry.get("cpu_ram"), high=1e8, strict_low=True)
    if ram_mb is None:
        return None
    cores = number(entry.get("cpu_cores"), high=1e5, strict_low=True)
    share = number(entry.get("cpu_cores_effective"), high=1e5, strict_low=True)
    fraction = min(share / cores, 1.0) if cores and share else 1.0
    return round(ram_mb * fraction / 1000.0, 2)


def read_listing(entry: object) -> Listing | None:
    """An offer of the answer as a :class:`Listing`, or None when it is not one (no object, no ``id``)."""
    if not isinstance(entry, dict):
        return None
    offer_id = _id(entry.get("id"))
    if offer_id is None:
        return None
    gpu_mb = number(entry.get("gpu_ram"), high=1e7, strict_low=True)
    duration_s = number(entry.get("duration"), high=1e10, strict_low=True)
    cuda = number(entry.get("cuda_max_good"), high=100.0, strict_low=True)
    return Listing(
        id=offer_id,
        machine_id=_id(entry.get("machine_id")),
        host_id=_id(entry.get("host_id")),
        available=entry.get("rentable") is not False and entry.get("rented") is not True,
        gpu_name=text(entry.get("gpu_name"), 60),
        gpu_count=integer(entry.get("num_gpus"), 1, 64),
        gpu_memory_gb=round(gpu_mb / MB_PER_GB, 1) if gpu_mb is not None else None,
        amd=entry.get("gpu_arch") == "amd",
        dph_base=number(entry.get("dph_base"), high=1e4, strict_low=True),
        storage_usd_gb_month=number(entry.get("storage_cost"), high=100.0),
        min_bid=number(entry.get("min_bid"), high=1e4, strict_low=True),
        reliability=number(entry.get("reliability", entry.get("reliability2")), high=1.0),
        max_rental_hours=round(duration_s / 3600.0, 1) if duration_s is not None else None,
        country=_country(entry.get("geolocation")),
        pcie_gen=integer(entry.get("pci_gen"), 1, 6),
        pcie_width=integer(entry.get("gpu_lanes"), 1, 32),
        pcie_gb_s=number(entry.get("pcie_bw"), high=1e4, strict_low=True),
        disk_mb_s=number(entry.get("disk_bw"), high=1e6, strict_low=True),
        net_down_mbit_s=number(entry.get("inet_down"), high=1e7, strict_low=True),
        net_up_mbit_s=number(entry.get("inet_up"), high=1e7, strict_low=True),
        cpu=text(entry.get("cpu_name")),
        ram_gb=_ram_share(entry),
        cuda=f"{cuda:g}" if cuda is not None else None,
    )


def read_listings(document: Mapping[str, Any]) -> tuple[list[Listing], int]:
    """Every readable offer of an answer, and how many entries were not readable."""
    return read_all(document.get("offers"), read_listing)


__all__ = [
    "API_KEY_VARIABLE",
    "API_REFERENCE",
    "API_URL_VARIABLE",
    "DEFAULT_API_URL",
    "HOURS_PER_MONTH",
    "PRICE_UNIT",
    "SEARCH",
    "Listing",
    "VastApiError",
    "api_url",
    "fetch_bundles",
    "read_listing",
    "read_listings",
]

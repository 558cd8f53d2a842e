"""Offers from gpuhunt (dstack's GPU price catalog), mapped onto catalog GPUs, one provider at a time.

gpuhunt has two kinds of provider. *Offline* providers (AWS, Azure, GCP, Lambda, Nebius, OCI, RunPod, Verda,
CloudRift) are published as CSV catalogs that gpuhunt downloads, or reads from ``GPUHUNT_CATALOG_DIR`` (one
``<provider>.csv`` per provider, gpuhunt's own format) when that is set. *Online* providers (Vast.ai and
others) are queried live, some only with credentials in the environment. Every provider is asked on its
own, so one that fails (no network, no credentials, no file) is one warning and the others still count.

gpuhunt has no public list of its providers, nor of the classes of its online ones; both are read from its
package (``gpuhunt._internal``), the only places this module touches gpuhunt's internals. The project pins
gpuhunt below 0.2 for that reason, and a layout it does not know is one error line, not a traceback.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bench.cost.prices.cache import Offer
from bench.cost.prices.names import match_gpu
from bench.cost.prices.providers import offer_kind
from bench.errors import KbenchError

GPUHUNT_URL = "https://github.com/dstackai/gpuhunt"
MAX_WORKERS = 8
DOWNLOAD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FetchResult:
    """What one refresh got: mapped offers per provider that answered, a warning per provider that did not."""

    offers: dict[str, list[Offer]]
    warnings: dict[str, str]
    unmapped: dict[str, int] = field(default_factory=dict)
    source: str = "gpuhunt"
    kept: dict[str, str] = field(default_factory=dict)  # providers not asked on purpose (polled too recently)
    skipped: dict[str, int] = field(default_factory=dict)  # "clore: rented servers" -> how many were left out


_INTERNALS_MOVED = "gpuhunt {version} keeps its provider lists elsewhere ({exc}); kbench reads those of gpuhunt 0.1.x"


def gpuhunt_version() -> str:
    try:
        return version("gpuhunt")
    except PackageNotFoundError:
        return "?"


def known_providers() -> tuple[list[str], list[str]]:
    """gpuhunt's offline and online provider names."""
    try:
        from gpuhunt._internal.catalog import OFFLINE_PROVIDERS, ONLINE_PROVIDERS
    except ImportError as exc:
        raise KbenchError(_INTERNALS_MOVED.format(version=gpuhunt_version(), exc=exc)) from None
    return list(OFFLINE_PROVIDERS), list(ONLINE_PROVIDERS)


def check_providers(names: Sequence[str]) -> list[str]:
    """Lower-cased provider names, every one known to gpuhunt.

    Raises:
        KbenchError: naming the unknown provider and listing the known ones.
    """
    offline, online = known_providers()
    out = []
    for name in names:
        if name.lower() not in offline + online:
            raise KbenchError(
                f"--provider: gpuhunt has no provider {name!r}; known: {', '.join(sorted(offline + online))}"
            )
        out.append(name.lower())
    return out


class _Collect(logging.Handler):
    """Keeps gpuhunt's log records (its download failures carry their exception) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _quiet_gpuhunt() -> Iterator[_Collect]:
    logger = logging.getLogger("gpuhunt")
    handler = _Collect()
    propagate, level = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = propagate, level


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _download_failures(records: list[logging.LogRecord]) -> dict[str, str]:
    out: dict[str, str] = {}
    for record in records:
        if record.exc_info and record.args and isinstance(record.args, tuple):
            exc = record.exc_info[1]
            out[str(record.args[0])] = _reason(exc) if exc else record.getMessage()
    return out


def _online_provider(name: str) -> Any:
    """Build an online provider from the environment, as gpuhunt's default catalog does."""
    try:
        from gpuhunt._internal.default import ONLINE_PROVIDER_MODULES
    except ImportError as exc:
        raise KbenchError(_INTERNALS_MOVED.format(version=gpuhunt_version(), exc=exc)) from None

    for module_name, class_name in ONLINE_PROVIDER_MODULES:
        if module_name.rsplit(".", 1)[-1] == name:
            return getattr(importlib.import_module(module_name), class_name).from_env()
    raise KbenchError(f"gpuhunt lists online provider {name!r} but has no module for it")


def _map_items(provider: str, items: list[Any], fetched_at: str, unmapped: dict[str, int]) -> list[Offer]:
    offers = []
    for item in items:
        if not item.gpu_count or not item.price or item.price <= 0:
            continue
        match = match_gpu(item.gpu_name, item.gpu_memory, item.instance_name)
        if match is None:
            key = f"{item.gpu_name} {item.gpu_memory or 0:g}GB"
            unmapped[key] = unmapped.get(key, 0) + 1
            continue
        try:
            offer = Offer(
                provider=provider,
                instance=str(item.instance_name),
                region=str(item.location),
                gpu_id=match.gpu_id,
                gpu_name=str(item.gpu_name),
                gpu_memory_gb=item.gpu_memory,
                gpu_count=int(item.gpu_count),
                usd_per_hour=float(item.price),
                spot=bool(item.spot),
                tier=offer_kind(provider, bool(item.spot)),
                fetched_at=fetched_at,
                assumption=match.assumption,
            )
        except (ValueError, TypeError, OverflowError):  # pydantic's ValidationError is a ValueError
            continue  # a price or size the cache would refuse to read back (NaN, $1e9/h): left out
        offers.append(offer)
    return offers


def fetch_offers(providers: Sequence[str] | None = None, *, now: dt.datetime | None = None) -> FetchResult:
    """Ask gpuhunt for NVIDIA offers of every provider (or of ``providers``) and map them onto the catalog.

    Never raises for a provider's failure: each one becomes a line in ``warnings``.
    """
    import gpuhunt

    timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # gpuhunt downloads catalogs without a timeout of its own
    try:
        return _fetch(gpuhunt, providers, now)
    finally:
        socket.setdefaulttimeout(timeout)


def _fetch(gpuhunt: Any, providers: Sequence[str] | None, now: dt.datetime | None) -> FetchResult:
    offline, online = known_providers()
    wanted = check_providers(providers) if providers else offline + online
    fetched_at = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    warnings: dict[str, str] = {}
    catalog = gpuhunt.Catalog(balance_resources=False, auto_reload=False)
    local_dir = os.environ.get("GPUHUNT_CATALOG_DIR")
    with _quiet_gpuhunt() as log:
        if not local_dir and any(p in offline for p in wanted):
            everything = "no catalog loaded"
            try:
                catalog.load()
            except Exception as exc:  # gpuhunt raises when no offline catalog could be downloaded
                everything = _reason(exc.__cause__ or exc)
            failures = _download_failures(log.records)
            for p in wanted:
                if p in offline and p not in catalog.catalog:
                    warnings[p] = f"catalog download failed: {failures.get(p, everything)}"
        for p in wanted:
            if p in online:
                try:
                    catalog.add_provider(_online_provider(p))
                except Exception as exc:  # gpuhunt's MissingCredsError, an import error: skip this provider
                    warnings[p] = f"skipped: {_reason(exc)}"
        asked = [p for p in wanted if p not in warnings]

        def ask(p: str) -> list[Any]:
            return list(catalog.query(provider=p, gpu_vendor="nvidia", min_gpu_count=1))

        with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
            futures = {p: pool.submit(ask, p) for p in asked}
        unmapped: dict[str, int] = {}
        offers: dict[str, list[Offer]] = {}
        for p, future in futures.items():
            try:
                items = future.result()
            except FileNotFoundError:
                warnings[p] = f"no catalog file {p}.csv in GPUHUNT_CATALOG_DIR={local_dir}"
                continue
            except Exception as exc:  # no network, an API error: one provider lost, not the refresh
                warnings[p] = f"query failed: {_reason(exc)}"
                continue
            offers[p] = _map_items(p, items, fetched_at, unmapped)
    return FetchResult(offers=offers, warnings=warnings, unmapped=unmapped, source=f"gpuhunt {gpuhunt_version()}")


__all__ = ["GPUHUNT_URL", "FetchResult", "check_providers", "fetch_offers", "gpuhunt_version", "known_providers"]

"""The one JSON document every ``--json`` command prints (schema: ``bench/data/output.schema.json``).

``{"schema": "kbench-output/1", "command", "kbench_version", "generated_at", "query", "rows", "notes"}``
(``prices show`` adds ``chosen``, ``baseline show`` ``source``, ``projection-check`` ``cross_validation``,
``coverage`` and ``vram``). Every number is a *figure* ``{"value", "unit",
"label"}`` whose label says where it comes from: ``measured``, ``projected``, ``counted`` on the meta device,
``catalog`` data, ``live`` offers from the price cache, or ``computed`` from those by plain arithmetic. Every price
is a *price* object with its provider, date, tier, source and staleness. ``docs/json-output.md`` documents each
command's rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from bench import __version__
from bench.cost.catalog import Price
from bench.cost.costs import Billing, SessionCost
from bench.cost.prices.policy import PriceChoice

SCHEMA = "kbench-output/1"
Label = Literal["measured", "projected", "counted", "catalog", "live", "computed"]


def schema_path() -> Path:
    """The JSON Schema of the document, shipped with the package."""
    return Path(str(resources.files("bench") / "data" / "output.schema.json"))


def figure(value: float | None, unit: str, label: Label, **extra: Any) -> dict[str, Any]:
    """A number with its unit and where it comes from (``value`` None: unknown or not applicable)."""
    finite = value is not None and value == value and abs(value) != float("inf")
    return {"value": float(value) if finite and value is not None else None, "unit": unit, "label": label, **extra}


def billing_json(billing: Billing) -> dict[str, Any]:
    return {
        "increment_s": billing.increment_s,
        "minimum_s": billing.minimum_s,
        "known": billing.known,
        "source": billing.source,
        "label": billing.label,
    }


def choice_json(choice: PriceChoice | None) -> dict[str, Any] | None:
    """The price a command used, with how the policy chose it."""
    if choice is None:
        return None
    return {
        "usd_per_gpu_hour": figure(
            choice.usd_per_hour, "USD/GPU-hour", "live" if choice.origin == "live" else "catalog"
        ),
        "provider": choice.provider,
        "providers": list(choice.providers),
        "date": choice.date,
        "age_days": choice.age_days,
        "stale": choice.stale,
        "tier": choice.kind,
        "tier_detail": choice.tier_label,
        "stat": choice.stat,
        "offers": choice.offers,
        "origin": choice.origin,
        "source": choice.source,
        "billing": billing_json(choice.billing),
    }


def listed_price_json(price: Price) -> dict[str, Any]:
    """A catalog price as listed (not chosen by a policy)."""
    return {
        "usd_per_gpu_hour": figure(price.usd_per_hour, "USD/GPU-hour", "catalog"),
        "provider": price.provider,
        "date": price.date,
        "tier": price.kind,
        "tier_detail": price.tier,
        "source": price.source,
        "source_kind": price.source_kind,
        "note": price.note,
    }


def session_json(session: SessionCost | None, label: Label, billing: Billing | None) -> dict[str, Any] | None:
    if session is None:
        return None
    return {
        "images": session.images,
        "overhead_s": figure(session.overhead_s, "s", label),
        "busy_s": figure(session.busy_s, "s", label),
        "billed_s": figure(session.billed_s, "s", label),
        "usd": figure(session.usd, "USD", label),
        "usd_per_1k_images": figure(session.usd_per_1k_images, "USD/1000 images", label),
        "billing": billing_json(billing or Billing()),
    }


def document(
    command: str,
    query: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    notes: Sequence[str] = (),
    **extra: Any,
) -> str:
    """The JSON text of one command's output (``extra``: further top-level fields the schema allows)."""
    doc = {
        "schema": SCHEMA,
        "command": command,
        "kbench_version": __version__,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "query": query,
        "rows": list(rows),
        "notes": list(notes),
        **extra,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)


__all__ = [
    "SCHEMA",
    "billing_json",
    "choice_json",
    "document",
    "figure",
    "listed_price_json",
    "schema_path",
    "session_json",
]

"""Plausibility of a record's numbers: what a reader skips (with a warning) instead of computing with.

A record can be valid JSON of the right shape and still carry ``NaN``, a negative time or an ``ok`` status with
no timings at all (hand-edited, or written by a future version). Report, cost and compare would turn those into
nonsense or a crash, so :func:`record_problem` names the first such value and the store leaves the record out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from bench.results.schema import RunRecord

SIGNED_FIELDS = frozenset({"timing.unaccounted_s", "summary.unaccounted_s_per_image"})  # wall minus stages


def _numbers(prefix: str, value: Any) -> Iterator[tuple[str, float]]:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        yield prefix, float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(f"{prefix}.{key}", item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(prefix, item)


def record_problem(record: RunRecord) -> str | None:
    """Why a record's measurements cannot be used (the first bad value), or None when they can."""
    if record.status == "ok" and record.timing is None and record.summary is None:
        return "status ok but no timing and no summary"
    for part in ("timing", "summary", "memory", "energy"):
        model = getattr(record, part)
        if model is None:
            continue
        for name, number in _numbers(part, model.model_dump()):
            if not math.isfinite(number):
                return f"{name} is {number}"
            if number < 0 and name not in SIGNED_FIELDS:
                return f"{name} is negative ({number:g})"
    return None


__all__ = ["SIGNED_FIELDS", "record_problem"]

"""Plausibility of a record's numbers: what a reader skips (with a warning) instead of computing with.

A record can be valid JSON of the right shape and still carry ``NaN``, a negative time, a time of ``1e308`` or
zero, or an ``ok`` status with no timings at all (hand-edited, or written by a future version). Report, cost
and compare would turn those into nonsense or a crash (a product overflowing to infinity, a rate of ``1 / 0``,
a figure axis with no length), so :func:`record_problem` names the first such value and the store leaves the
record out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from bench.results.schema import RunRecord

SIGNED_FIELDS = frozenset({"timing.unaccounted_s", "summary.unaccounted_s_per_image"})  # wall minus stages
# No measured number reaches this: 1e9 s is 31 years, 1e9 MB a petabyte, 1e9 J a quarter of a GWh per image.
# Below it, every product and sum report and cost form (prices, sessions, billing steps) stays finite.
MAX_MEASURED = 1e9
# The shortest call or image time a record may hold: nothing measured takes under a microsecond, and costs
# divide by these (images per hour of a session, images per dollar), so 0 or 5e-324 would become infinity.
MIN_CALL_S = 1e-6
CALL_TIME_FIELDS = frozenset(
    {
        "timing.call_s",
        "timing.per_image_s",
        *(
            f"summary.{name}_s_per_image"
            for name in ("median", "mean", "p90", "p99", "min", "max", "ci95_low", "ci95_high")
        ),
    }
)
CHECKED_PARTS = ("timing", "summary", "memory", "energy", "timeline")
# The workload sizes every reader multiplies and divides by (images per call, pixels, steps): whole numbers
# from 1 up to MAX_MEASURED; a batch of 0 or a 400-digit width cannot be costed or drawn.
SPEC_COUNTS = ("width", "height", "steps", "batch_size", "images_per_prompt")


def _numbers(prefix: str, value: Any) -> Iterator[tuple[str, float | int]]:
    """Every number under ``value`` with its dotted field name (list items share their list's name).

    Integers stay integers: pydantic keeps JSON's arbitrary-precision ones, which a float cannot hold.
    """
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        yield prefix, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(f"{prefix}.{key}", item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(prefix, item)


def _shown(number: float | int) -> str:
    """A number as a message shows it; an integer of hundreds of digits has no float to format through."""
    if isinstance(number, float):
        return f"{number:g}"
    return str(number) if abs(number) < 10**12 else format(Decimal(number), ".3e")


def _number_problem(name: str, number: float | int) -> str | None:
    """Why one measured number cannot be computed with, or None."""
    if isinstance(number, float) and not math.isfinite(number):
        return f"{name} is {number}"
    shown = _shown(number)
    if number < 0 and name not in SIGNED_FIELDS and not name.startswith("timeline."):
        return f"{name} is negative ({shown})"
    if abs(number) > MAX_MEASURED:
        return f"{name} is {shown}; a measured number is at most {MAX_MEASURED:g}"
    if name in CALL_TIME_FIELDS and number < MIN_CALL_S:
        return f"{name} is {shown}; a call or image takes at least {MIN_CALL_S:g} s"
    return None


def record_problem(record: RunRecord) -> str | None:
    """Why a record's measurements cannot be used (the first bad value), or None when they can.

    Checked: the workload sizes (:data:`SPEC_COUNTS`) are from 1 to :data:`MAX_MEASURED`; timing, summary,
    memory, energy and timeline numbers are finite and at most :data:`MAX_MEASURED` in size; call and image
    times at least :data:`MIN_CALL_S`; none negative but the signed "unaccounted" differences and the
    timeline (a sampled counter relative to its first reading may step back).
    """
    if record.status == "ok" and record.timing is None and record.summary is None:
        return "status ok but no timing and no summary"
    for key in SPEC_COUNTS:
        count = getattr(record.spec, key)
        if not 1 <= count <= MAX_MEASURED:
            return f"spec.{key} is {_shown(count)}; a workload size is from 1 to {MAX_MEASURED:g}"
    for part in CHECKED_PARTS:
        model = getattr(record, part)
        if model is None:
            continue
        for name, number in _numbers(part, model.model_dump()):
            problem = _number_problem(name, number)
            if problem is not None:
                return problem
    return None


__all__ = ["CALL_TIME_FIELDS", "MAX_MEASURED", "MIN_CALL_S", "SIGNED_FIELDS", "SPEC_COUNTS", "record_problem"]

"""What renting each GPU costs for one workload: the estimate, the policy's price, and the session around it.

A recommendation row joins a GPU's :class:`~bench.cost.projection.Estimate` (seconds per image under the
memory option chosen for it), the price the policy chose (:mod:`bench.cost.prices.policy`), the spot price
beside it, and :func:`~bench.cost.costs.image_cost`: the steady-state $ per 1000 images and, for a session,
the full cost with model load, warmup and billing granularity. Rows rank by the session's figure when a
session is given, else by the steady-state one; GPUs whose only prices are stale rank after the others (an
old price is not today's), still in cost order among themselves.

The one-off time of a session is measured where a record of this workload ran on this GPU (its load time
plus its warmup calls); otherwise it is projected: every weight read at :data:`ASSUMED_LOAD_GBPS` (an
assumption, not a sourced figure: a local NVMe SSD feeding safetensors; network volumes are slower) plus
one warmup call at the projected speed (compilation is not modelled).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from bench.cost.costs import ImageCost, Session, image_cost, record_overhead_s
from bench.cost.counting.profile import profile_workload
from bench.cost.prices.policy import PriceChoice
from bench.cost.projection import Estimate, MeasuredIndex
from bench.spec import Workload

ASSUMED_LOAD_GBPS = 2.0  # GB/s of weights from disk to the device; an assumption (see the module docstring)
WARMUP_CALLS = 1


@dataclass(frozen=True)
class Overhead:
    """Seconds a session pays once: model load and warmup, measured or projected."""

    load_s: float
    warmup_s: float
    source: Literal["measured", "projected"]
    basis: str

    @property
    def total_s(self) -> float:
        return self.load_s + self.warmup_s


def session_overhead(estimate: Estimate, workload: Workload, index: MeasuredIndex | None = None) -> Overhead:
    """Load plus warmup time of ``workload`` on the estimate's GPU (see the module docstring)."""
    w = workload.with_(memory=estimate.memory)
    records = index.records_for(estimate.gpu_id, w) if index else []
    timed = [r for r in records if r.timing is not None]
    if timed:
        load = statistics.median(r.timing.load_s for r in timed if r.timing)
        total = statistics.median(record_overhead_s(r) for r in timed)
        return Overhead(load, total - load, "measured", f"measured: {len(timed)} record(s) on {estimate.gpu_id}")
    weight_bytes = sum(profile_workload(workload.with_(memory="none")).weights_by_component.values())
    load = weight_bytes / (ASSUMED_LOAD_GBPS * 1e9)
    warmup = WARMUP_CALLS * estimate.s_per_image * estimate.batch_size
    return Overhead(
        load,
        warmup,
        "projected",
        f"projected: {weight_bytes / 1e9:.1f} GB of weights at an assumed {ASSUMED_LOAD_GBPS:g} GB/s "
        f"+ {WARMUP_CALLS} warmup call",
    )


@dataclass(frozen=True)
class RentalRow:
    """One GPU's line of a recommendation."""

    estimate: Estimate
    price: PriceChoice | None
    cost: ImageCost | None
    spot_price: PriceChoice | None
    spot_cost: ImageCost | None
    overhead: Overhead
    s_interval: tuple[float, float] | None = None  # projected seconds per image, low-high, where known
    usd_interval: tuple[float, float] | None = None  # $ per 1000 images over that interval
    tied: bool = False  # its cost interval overlaps the cheapest row's

    @property
    def ranking_usd(self) -> float:
        return self.cost.ranking_usd_per_1k_images if self.cost else math.inf


def _interval(estimate: Estimate) -> tuple[float, float] | None:
    """The projection's low-high seconds per image (None where measured or where none is known)."""
    if estimate.s_per_image_interval is None:
        return None
    lo, hi = estimate.s_per_image_interval
    return (float(lo), float(hi))


def _cost(
    estimate: Estimate, choice: PriceChoice | None, session: Session | None, o: Overhead, images_per_call: int
) -> ImageCost | None:
    if choice is None:
        return None
    return image_cost(
        estimate.s_per_image,
        choice.usd_per_hour,
        session=session,
        overhead_s=o.total_s,
        billing=choice.billing,
        images_per_call=images_per_call,
    )


def rental_rows(
    estimates: Sequence[Estimate],
    workload: Workload,
    prices: Mapping[str, PriceChoice | None],
    spot_prices: Mapping[str, PriceChoice | None] | None = None,
    *,
    session: Session | None = None,
    index: MeasuredIndex | None = None,
) -> list[RentalRow]:
    """Rows for ``estimates`` (one per GPU), cheapest first, with ties marked where intervals are known."""
    rows = []
    for e in estimates:
        overhead = session_overhead(e, workload, index)
        choice = prices.get(e.gpu_id)
        spot = (spot_prices or {}).get(e.gpu_id)
        if spot is not None and choice is not None and spot.kind != "spot":
            spot = None  # only a real spot price is shown beside the main one
        per_call = workload.images_per_call
        cost = _cost(e, choice, session, overhead, per_call)
        s_int = _interval(e)
        usd_int = (
            (1000 * s_int[0] * choice.usd_per_hour / 3600, 1000 * s_int[1] * choice.usd_per_hour / 3600)
            if s_int and choice
            else None
        )
        rows.append(
            RentalRow(e, choice, cost, spot, _cost(e, spot, session, overhead, per_call), overhead, s_int, usd_int)
        )
    rows.sort(key=lambda r: (r.price is not None and r.price.stale, r.ranking_usd, r.estimate.s_per_image))
    if rows and rows[0].usd_interval is not None:
        best_hi = rows[0].usd_interval[1]
        rows = [
            r if i == 0 or r.usd_interval is None else replace(r, tied=r.usd_interval[0] <= best_hi)
            for i, r in enumerate(rows)
        ]
    return rows


__all__ = ["ASSUMED_LOAD_GBPS", "Overhead", "RentalRow", "rental_rows", "session_overhead"]

"""Serving every recommended GPU at a p99 SLO: max rate, $ per image there, replicas for a target rate.

Each GPU's service times come from its isolated-run estimate at batch 1 and, when the server batches, at
``max_batch`` (measured where a record ran there, else projected with an interval); batch sizes between are
fitted (:func:`~bench.cost.serving.service.fill_batches`). The search (exact M/D/1 where the queue is one,
simulated otherwise: :mod:`.search`) runs at the median times and at the low and high ends of the projection's
interval, so the max rate and the $ per image carry that interval too, widened by the sampling error of a
simulated search (its rate's 95% interval) where there is one.

$ per image at the SLO is the one cost function's: a replica rented for an hour serves ``3600 x max rate``
images, so an image occupies ``1 / max rate`` seconds of rented time. At a target rate the fleet of ``c``
replicas costs ``c / rate`` rented seconds per image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from bench.cost.catalog import Catalog
from bench.cost.costs import usd_per_1k_images
from bench.cost.projection import Estimate, MeasuredIndex, estimate_workload
from bench.cost.rental import RentalRow
from bench.cost.serving.estimate import Precision
from bench.cost.serving.point import Basis
from bench.cost.serving.search import SloResult, max_rate_at_slo, replicas_for_rate
from bench.cost.serving.service import BatchTime, Bound, ServiceTimes, fill_batches
from bench.cost.serving.simulate import LoadPoint, QueueConfig
from bench.spec import Workload


@dataclass(frozen=True)
class ServingRow:
    """One GPU served at the SLO: its recommend row, service times and what the simulation found."""

    rental: RentalRow
    service: ServiceTimes
    slo: SloResult  # at the median service times
    rate_interval: tuple[float, float] | None  # max rate at the high / low service times, with sampling error
    usd_per_1k_at_slo: float | None  # one replica at the max rate
    usd_interval: tuple[float, float] | None
    target_rate_per_s: float | None  # the rate asked for, or the max rate under --rate auto
    replicas: int | None
    at_target: LoadPoint | None
    fleet_usd_per_1k: float | None  # the replicas needed, serving the target rate
    reason: str | None = None

    @property
    def gpu_id(self) -> str:
        return self.rental.estimate.gpu_id

    @property
    def max_rate_per_s(self) -> float | None:
        return self.slo.max_rate_per_s

    @property
    def basis(self) -> Basis | None:
        """How the max rate and the p99 there were computed (None: no rate meets the SLO)."""
        return self.slo.point.basis if self.slo.point else None

    @property
    def ranking(self) -> tuple[bool, bool, float, str]:
        stale = self.rental.price is not None and self.rental.price.stale
        usd = self.usd_per_1k_at_slo
        return (self.reason is not None, stale, math.inf if usd is None else usd, self.gpu_id)


def batch_time(estimate: Estimate, batch: int) -> BatchTime:
    """Seconds per call of ``batch`` images from an estimate of that batch size (its interval kept)."""
    band = estimate.s_per_image_interval
    return BatchTime(
        batch=batch,
        s_per_call=estimate.s_per_image * batch,
        source=estimate.source,
        low_s=band[0] * batch if band else None,
        high_s=band[1] * batch if band else None,
    )


def batch_estimates(
    rows: Sequence[RentalRow],
    workload: Workload,
    catalog: Catalog,
    index: MeasuredIndex,
    max_batch: int,
    *,
    min_headroom_gb: float = 0.0,
    providers: list[str] | None = None,
) -> dict[str, Estimate]:
    """Each GPU's estimate at ``max_batch`` under the memory option its batch-1 row uses, where it fits."""
    if max_batch <= 1:
        return {}
    by_memory: dict[str, list[str]] = {}
    for r in rows:
        by_memory.setdefault(r.estimate.memory, []).append(r.estimate.gpu_id)
    out: dict[str, Estimate] = {}
    for memory, gpu_ids in by_memory.items():
        w = workload.with_(batch_size=max_batch, images_per_prompt=1, memory=memory)
        for e in estimate_workload(w, catalog, index, gpu_ids, providers=providers):
            if e.headroom_gb >= min_headroom_gb:
                out[e.gpu_id] = e
    return out


def _service(row: RentalRow, batched: Estimate | None, max_batch: int) -> ServiceTimes:
    known = {1: batch_time(row.estimate, 1)}
    if batched is None or max_batch == 1:
        service = fill_batches(known, 1)
        return service if max_batch == 1 else replace(service, fit_note=f"batch {max_batch} does not fit in VRAM")
    known[max_batch] = batch_time(batched, max_batch)
    return fill_batches(known, max_batch)


BOUND_PRECISION = Precision(target=0.05)  # the interval's ends: the projection's band is far wider than this


def _at(service: ServiceTimes, bound: Bound, config: QueueConfig, slo_p99_s: float) -> SloResult:
    precision = Precision() if bound == "mid" else BOUND_PRECISION
    return max_rate_at_slo(service.with_bound(bound), config, slo_p99_s, precision)


@dataclass(frozen=True)
class SloCost:
    """One replica at the highest rate whose p99 meets the SLO, and its $ per 1000 images there."""

    slo: SloResult  # at the median service times
    rate_interval: tuple[float, float] | None  # the projection's low/high ends and the sampling error, together
    usd_per_1k: float | None  # None: no price, or no rate meets the SLO
    usd_interval: tuple[float, float] | None  # upper end inf where the slow end meets the SLO at no rate

    @property
    def basis(self) -> Basis | None:
        """How the max rate and its p99 were computed (None: no rate meets the SLO)."""
        return self.slo.point.basis if self.slo.point else None


def cost_at_slo(service: ServiceTimes, config: QueueConfig, slo_p99_s: float, usd_per_hour: float | None) -> SloCost:
    """$ per 1000 images of one replica served at the SLO: the one answer ``recommend`` and the report show.

    An image occupies ``1 / max rate`` seconds of rented time. The interval is the search at the service times'
    low and high ends, each end widened by its own sampling interval when simulated (the slow end's lower
    bound, the fast end's upper one; the ends are simulated to ±5% on the p99, :data:`BOUND_PRECISION`, as the
    projection's band is many times wider); without a projection interval, the median search's sampling
    interval.
    Where the slow end meets the SLO at no rate its cost is unbounded (``inf``), not dropped, so a reader sees
    the interval is open rather than narrower than it is.
    """
    mid = _at(service, "mid", config, slo_p99_s)
    if mid.max_rate_per_s is None:
        return SloCost(mid, None, None, None)
    rate = mid.max_rate_per_s
    rates: tuple[float, float] | None = mid.rate_sampling
    if service.has_interval:
        slow, fast = _at(service, "high", config, slo_p99_s), _at(service, "low", config, slo_p99_s)
        low = slow.rate_sampling[0] if slow.rate_sampling else (slow.max_rate_per_s or 0.0)
        high = fast.rate_sampling[1] if fast.rate_sampling else (fast.max_rate_per_s or rate)
        rates = (low, high)
    if rates is not None:
        rates = (min(rates[0], rate), max(rates[1], rate))
    if usd_per_hour is None:
        return SloCost(mid, rates, None, None)
    usd = usd_per_1k_images(1.0 / rate, usd_per_hour)
    usd_int = None
    if rates is not None:
        usd_int = (
            usd_per_1k_images(1.0 / rates[1], usd_per_hour),
            usd_per_1k_images(1.0 / rates[0], usd_per_hour) if rates[0] > 0 else math.inf,
        )
    return SloCost(mid, rates, usd, usd_int)


def serving_rows(
    rows: Sequence[RentalRow],
    batched: Mapping[str, Estimate],
    config: QueueConfig,
    slo_p99_s: float,
    rate_per_s: float | None,
) -> list[ServingRow]:
    """Every GPU of ``rows`` at the SLO, ranked by $ per 1000 images there; GPUs that miss it at every rate last.

    ``rate_per_s`` None means ``auto``: the target rate is each GPU's own max rate at the SLO (one replica).
    """
    out: list[ServingRow] = []
    for row in rows:
        service = _service(row, batched.get(row.estimate.gpu_id), config.max_batch)
        cfg = replace(config, max_batch=service.max_batch)
        usd_h = row.price.usd_per_hour if row.price else None
        cost = cost_at_slo(service, cfg, slo_p99_s, usd_h)
        mid, rates, usd, usd_int = cost.slo, cost.rate_interval, cost.usd_per_1k, cost.usd_interval
        if mid.max_rate_per_s is None:
            out.append(ServingRow(row, service, mid, None, None, None, rate_per_s, None, None, None, mid.reason))
            continue
        replicas: int | None
        if rate_per_s is None:
            target, replicas, point = mid.max_rate_per_s, 1, mid.point
        else:
            target = rate_per_s
            replicas, point = replicas_for_rate(service, cfg, slo_p99_s, rate_per_s)
        fleet = usd_per_1k_images(replicas / target, usd_h) if usd_h is not None and replicas else None
        reason = None if replicas else f"more than the replica limit needed for {target:g} req/s"
        out.append(ServingRow(row, service, mid, rates, usd, usd_int, target, replicas, point, fleet, reason))
    return sorted(out, key=lambda r: r.ranking)


__all__ = ["BOUND_PRECISION", "ServingRow", "SloCost", "batch_estimates", "batch_time", "cost_at_slo", "serving_rows"]

"""The report's serving section: simulated latency-vs-load curves, measured load points, $ per image at an SLO.

Computed here, rendered by :mod:`bench.report.serving_render` and drawn by :mod:`bench.report.serving_figures`.

* **Measured configurations** (serving records, :class:`~bench.results.serving.ServeRecord`): each one's load points
  beside the simulator's curve for the same workload, built from this report's isolated runs of it (same model,
  size, steps, dtype, memory, weights and device kind; batch sizes up to the server's ``max_batch``). The
  simulator adds the per-request time beyond the pipeline call (client, HTTP, the queue's hand-off) that the
  server measured at its lightest load point, as time that holds no replica: an isolated run cannot know it,
  and the queueing under load is what is predicted.
* **GPU curves**: for each model, the simulated p99 against offered rate on the GPUs cheapest at the SLO.
* **$ per image at the SLO**, beside the isolated-run $ per 1000 images, for each workload of the estimates on
  every priced GPU it fits (measured or projected; the intervals are the search at the projection's ends).

Every figure says how it was computed: exact where the queue has a closed form (one replica, no batching,
Poisson arrivals, fixed calls: M/D/1), otherwise simulated over several seeds with the p99's sampling interval
(:mod:`bench.cost.serving.estimate`); the curves' points are simulated to a looser ±5% (:data:`CURVE_PRECISION`),
being drawn, not quoted.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.cost.projection import Estimate
from bench.cost.recommend import fastest_fitting
from bench.cost.serving.estimate import Precision, load_point
from bench.cost.serving.gpus import batch_time, cost_at_slo
from bench.cost.serving.point import Basis, LoadPoint
from bench.cost.serving.search import CURVE_FRACTIONS, saturation_per_s
from bench.cost.serving.service import ServiceTimes, fill_batches, service_from_records
from bench.cost.serving.simulate import QueueConfig
from bench.results import RunRecord
from bench.results.serving import ServeRecord, SloRecord
from bench.spec import RunSpec

MAX_COST_ROWS_PER_WORKLOAD = 8
MAX_WORKLOADS = 6
GPUS_PER_CURVE = 4
CURVE_PRECISION = Precision(target=0.05)  # the figures' simulated points: p99 within ±5% (95%)
MAX_CLOSED_LEVELS = 32


@dataclass(frozen=True)
class MeasuredPoint:
    """One measured load point as the figures plot it."""

    x: float  # offered rate (requests/s) or concurrency
    achieved_per_s: float
    p50_s: float
    p99_s: float
    slo_ok: bool | None


@dataclass(frozen=True)
class Curve:
    """A latency-vs-load curve: simulated points, measured ones where they exist, and the SLO."""

    key: str
    title: str
    x_label: str  # "offered rate (requests/s)" or "concurrency (requests in flight)"
    series: tuple[tuple[str, tuple[tuple[float, LoadPoint], ...]], ...]  # (label, simulated (x, point)s)
    measured: tuple[MeasuredPoint, ...]
    slo_p99_s: float | None
    note: str


@dataclass(frozen=True)
class SloCostRow:
    """One workload on one GPU: isolated-run cost beside the cost when served at the SLO."""

    workload: str
    gpu_name: str
    memory: str
    source: str
    s_per_image: float
    usd_per_1k_isolated: float | None
    max_rate_per_s: float | None
    rate_interval: tuple[float, float] | None
    usd_per_1k_at_slo: float | None
    usd_interval: tuple[float, float] | None
    reason: str | None
    basis: str = ""  # how the max rate was computed ("exact M/D/1 (...)", "simulated ... requests x ... seeds")


@dataclass(frozen=True)
class MeasuredSlo:
    """A real server's SLO search (``SloRecord``): the max rate it held and its $ per image there."""

    serve_key: str
    slo_p99_s: float
    max_rate_per_s: float | None
    usd_per_1k_images: float | None
    gpu: str | None


@dataclass(frozen=True)
class ServingSection:
    slo_p99_s: float | None
    curves: tuple[Curve, ...]
    costs: tuple[SloCostRow, ...]
    measured_slo: tuple[MeasuredSlo, ...]
    notes: tuple[str, ...]


def _same_workload(a: RunSpec, b: RunSpec) -> bool:
    """Whether two runs compute the same images apart from the batch size (language and seed aside)."""
    keys = ("model", "task", "width", "height", "steps", "dtype", "memory", "weights", "images_per_prompt")
    same = all(getattr(a, k) == getattr(b, k) for k in keys)
    return same and a.device.split(":")[0] == b.device.split(":")[0]


def _outside_call_s(points: Sequence[ServeRecord]) -> float:
    """Median per-request seconds beyond the pipeline call at the lightest measured load point.

    At light load the median request does not queue, so this is the server's and client's own time per request
    (HTTP, the queue's hand-off, encoding the image); the server's queue wait is not subtracted, as it holds
    part of that hand-off.
    """
    lightest = min(points, key=lambda p: p.offered_rate_per_s or p.concurrency or 0)
    extra = [lat - s for lat, s in zip(lightest.latency_s, lightest.service_s, strict=False)]
    return max(0.0, statistics.median(extra)) if extra else 0.0


def measured_curve(points: Sequence[ServeRecord], records: Sequence[RunRecord], slo: float | None) -> Curve:
    """One serving configuration's measured points and the simulator's curve from the isolated runs."""
    first = points[0]
    closed = first.arrivals == "closed"
    measured = tuple(
        MeasuredPoint(
            x=float((p.concurrency if closed else p.offered_rate_per_s) or 0.0),
            achieved_per_s=p.achieved_rate_per_s,
            p50_s=p.latency.p50_s,
            p99_s=math.nan if p.latency.p99_s is None else p.latency.p99_s,  # not estimable: too few requests
            slo_ok=p.slo_ok,
        )
        for p in sorted(points, key=lambda p: p.concurrency or p.offered_rate_per_s or 0.0)
        if p.latency is not None
    )
    isolated = [r for r in records if r.ok and _same_workload(r.spec, first.spec)]
    isolated = [r for r in isolated if r.spec.batch_size <= first.max_batch]
    title = f"{first.spec.model} {first.spec.resolution} {first.spec.steps} steps on {first.spec.device}, "
    title += f"{first.server} server, {first.arrivals}, max batch {first.max_batch}"
    x_label = "concurrency (requests in flight)" if closed else "offered rate (requests/s)"
    if not isolated:
        note = "no isolated run of this workload in the report: no simulated curve"
        return Curve(first.serve_key, title, x_label, (), measured, slo, note)
    service = service_from_records(isolated, first.max_batch)
    overhead = _outside_call_s(points)
    config = QueueConfig(
        arrivals=first.arrivals,
        max_batch=first.max_batch,
        batch_window_s=first.batch_window_s or 0.0,
        overhead_s=overhead,
    )
    if closed:
        levels = sorted({int(m.x) for m in measured} | set(range(1, 2 * max(int(m.x) for m in measured) + 1)))
        sim = [
            (float(c), load_point(service, _closed(config, c), None, CURVE_PRECISION))
            for c in levels[:MAX_CLOSED_LEVELS]
        ]
    else:
        top = saturation_per_s(service, config)
        rates = sorted({m.x for m in measured if 0 < m.x < top} | {f * top for f in CURVE_FRACTIONS})
        sim = [(r, load_point(service, config, r, CURVE_PRECISION)) for r in rates]
    calls = sum(len(r.timing.call_s) for r in isolated if r.timing)
    note = (
        f"simulated from {len(isolated)} isolated run(s) ({calls} calls; {service.fit_note}), "
        f"plus {overhead * 1000:.0f} ms per request outside the pipeline call (measured at the lightest load); "
        + curve_basis([p for _, p in sim])
    )
    return Curve(first.serve_key, title, x_label, (("simulated", tuple(sim)),), measured, slo, note)


def curve_basis(points: Sequence[LoadPoint]) -> str:
    """How a curve's points were computed, in one phrase (the widest p99 interval among simulated ones)."""
    methods = sorted({p.basis.method for p in points if p.basis.exact})
    sims = [p.basis for p in points if not p.basis.exact]
    parts = [Basis(m).text() for m in methods]
    if sims:
        widest = max(b.p99_rel_halfwidth or 0.0 for b in sims)
        most = max(b.requests for b in sims)
        text = (
            f"{len(sims)} point(s) simulated, {sims[0].seeds} seeds combined, up to {most:,} requests per seed, "
            f"p99 95% interval up to ±{100 * widest:.2g}%"
        )
        short = sum(b.short_of_target for b in sims)
        if short:
            text += f" ({short} short of the ±{100 * CURVE_PRECISION.target:g}% target: simulation budget reached)"
        parts.append(text)
    return "points: " + "; ".join(parts) if parts else "no points"


def _closed(config: QueueConfig, concurrency: int) -> QueueConfig:
    return replace(config, arrivals="closed", concurrency=concurrency)


def _service(e: Estimate) -> ServiceTimes:
    return fill_batches({1: batch_time(e, 1)}, 1)


def _slo_row(e: Estimate, slo: float, config: QueueConfig) -> SloCostRow:
    """The cost row of one estimate at the SLO (the one $-at-SLO answer, :func:`cost_at_slo`)."""
    cost = cost_at_slo(_service(e), config, slo, e.usd_per_hour)
    workload = f"{e.model} {e.resolution} {e.steps} steps {e.dtype}"
    basis = cost.basis.text() if cost.basis else ""
    return SloCostRow(
        workload, e.gpu_name, e.memory, e.source, e.s_per_image, e.usd_per_1k_images, cost.slo.max_rate_per_s,
        cost.rate_interval, cost.usd_per_1k, cost.usd_interval, cost.slo.reason, basis,
    )  # fmt: skip


def slo_costs(estimates: Sequence[Estimate], slo: float) -> tuple[list[SloCostRow], list[Curve]]:
    """$ per image at the SLO for each workload (batch 1) on every priced GPU it fits, and per-model curves."""
    config = QueueConfig()
    by_workload: dict[tuple[object, ...], dict[str, list[Estimate]]] = {}
    for e in estimates:
        if e.batch_size != 1 or e.usd_per_hour is None:
            continue
        key = (e.model, e.task, e.resolution, e.steps, e.dtype)
        by_workload.setdefault(key, {}).setdefault(e.gpu_id, []).append(e)
    rows: list[SloCostRow] = []
    curves: list[Curve] = []
    seen_models: set[str] = set()
    for workload, per_gpu in list(by_workload.items())[:MAX_WORKLOADS]:
        chosen = [fastest_fitting(options) for options in per_gpu.values()]
        chosen = sorted((e for e in chosen if e.headroom_gb >= 0), key=lambda e: e.usd_per_1k_images or 0.0)
        chosen = chosen[: 2 * MAX_COST_ROWS_PER_WORKLOAD]
        results = [(_slo_row(e, slo, config), e) for e in chosen]
        ranked = sorted(results, key=lambda re: (re[0].usd_per_1k_at_slo is None, re[0].usd_per_1k_at_slo or 0.0))
        rows += [r for r, _ in ranked[:MAX_COST_ROWS_PER_WORKLOAD]]
        model = str(workload[0])
        if model not in seen_models and ranked and ranked[0][0].max_rate_per_s:
            seen_models.add(model)
            curves.append(_gpu_curve(workload, ranked, slo, config))
    return rows, curves


def _gpu_curve(
    key: tuple[object, ...], rows: Sequence[tuple[SloCostRow, Estimate]], slo: float, config: QueueConfig
) -> Curve:
    """The simulated p99 against offered rate on the GPUs cheapest at the SLO (one series each)."""
    by_id = {e.gpu_name: e for _, e in rows}
    picks = [r.gpu_name for r, _ in rows if r.max_rate_per_s][:GPUS_PER_CURVE]
    series = []
    for name in picks:
        service = _service(by_id[name])
        top = saturation_per_s(service, config)
        points = [(f * top, load_point(service, config, f * top, CURVE_PRECISION)) for f in CURVE_FRACTIONS]
        series.append((name, tuple(points)))
    title = f"{key[0]} {key[2]} {key[3]} steps {key[4]}: on {', '.join(picks)}"
    note = "projected or measured s/image per GPU, batch 1, Poisson arrivals, one replica; series: " + "; ".join(picks)
    note += "; " + curve_basis([p for _, line in series for _, p in line])
    return Curve(f"gpus-{key[0]}-{key[2]}", title, "offered rate (requests/s)", tuple(series), (), slo, note)


def build_serving(
    records: Sequence[RunRecord],
    serve_records: Sequence[ServeRecord | SloRecord],
    estimates: Sequence[Estimate],
    slo_p99_s: float | None = None,
) -> ServingSection | None:
    """The serving section, or None when there is neither a serving record nor an SLO to cost at."""
    points = [r for r in serve_records if isinstance(r, ServeRecord) and r.status == "ok"]
    slo = slo_p99_s or next((r.slo_p99_s for r in serve_records if r.slo_p99_s), None)
    if not points and slo is None:
        return None
    groups: dict[str, list[ServeRecord]] = {}
    for p in points:
        groups.setdefault(p.serve_key, []).append(p)
    curves = [measured_curve(g, records, slo) for g in groups.values()]
    rows: list[SloCostRow] = []
    if slo is not None:
        rows, gpu_curves = slo_costs(estimates, slo)
        curves += gpu_curves
    measured_slo = tuple(
        MeasuredSlo(
            r.serve_key,
            r.slo_p99_s,
            r.max_rate_at_slo_per_s,
            1000 * r.usd_per_image_at_slo if r.usd_per_image_at_slo is not None else None,
            r.gpu,
        )
        for r in serve_records
        if isinstance(r, SloRecord) and r.status == "ok" and r.search_complete  # a cut search measured no max rate
    )
    bases = sorted({r.basis for r in rows if r.basis})
    notes = [
        "$ / 1000 images at the SLO = $/h / (3600 x max rate at the SLO) x 1000: one replica loaded to the highest "
        "rate whose p99 latency meets the SLO (one FIFO queue, Poisson arrivals, batch 1); intervals: the search at "
        "the projection's low and high times, with the sampling error where simulated",
    ]
    if bases:
        notes.append("max rate at the SLO computed by: " + "; ".join(bases))
    return ServingSection(slo, tuple(curves), tuple(rows), measured_slo, tuple(notes))


__all__ = [
    "CURVE_PRECISION",
    "Curve",
    "MeasuredPoint",
    "MeasuredSlo",
    "ServingSection",
    "SloCostRow",
    "build_serving",
    "curve_basis",
]

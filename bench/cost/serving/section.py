"""The report's serving section: simulated latency-vs-load curves, measured load points, $ per image at an SLO.

Computed here, rendered by :mod:`bench.report.serving_render` and drawn by :mod:`bench.report.serving_figures`.

* **Measured configurations** (serving records, :class:`~bench.results.serving.ServeRecord`): each one's load points
  beside the simulator's prediction for the same server, from the service times the records themselves hold
  (:mod:`.measured`; no isolated run needed), and the max rate at the SLO measured (the search's bracket) and
  simulated. Where the report holds isolated runs of the same workload (same model, size, steps, dtype,
  memory, weights and device kind; batch sizes up to the server's ``max_batch``), their curve is drawn too.
* **GPU curves**: for each model, the simulated p99 against offered rate on the GPUs cheapest at the SLO.
* **$ per image at the SLO**, beside the isolated-run $ per 1000 images, for each workload of the estimates on
  every priced GPU it fits (measured or projected; the intervals are the search at the projection's ends).

Every figure says how it was computed: exact where the queue has a closed form (one replica, no batching,
Poisson arrivals, fixed calls: M/D/1), otherwise simulated over several seeds with the p99's sampling interval
(:mod:`bench.cost.serving.estimate`); the curves' points are simulated to a looser ±5% (:data:`CURVE_PRECISION`),
being drawn, not quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost.projection import Estimate
from bench.cost.recommend import fastest_fitting
from bench.cost.serving.curves import CURVE_PRECISION, Curve, MeasuredPoint, curve_basis
from bench.cost.serving.estimate import load_point
from bench.cost.serving.gpus import batch_time, cost_at_slo
from bench.cost.serving.measured import ServerComparison, compare_server
from bench.cost.serving.search import CURVE_FRACTIONS, saturation_per_s
from bench.cost.serving.service import ServiceTimes, fill_batches
from bench.cost.serving.simulate import QueueConfig
from bench.results import RunRecord
from bench.results.serving import ServeRecord, SloRecord

MAX_COST_ROWS_PER_WORKLOAD = 8
MAX_WORKLOADS = 6
GPUS_PER_CURVE = 4


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
class ServingSection:
    """The section: the SLO, the figures' curves, the $-at-SLO rows and each measured server beside its prediction."""

    slo_p99_s: float | None
    curves: tuple[Curve, ...]
    costs: tuple[SloCostRow, ...]
    servers: tuple[ServerComparison, ...]
    notes: tuple[str, ...]


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
    """The serving section, or None when there is neither a serving record nor an SLO to cost at.

    Every serving configuration of ``serve_records`` is compared with the simulator's prediction from its own
    calls (:func:`~.measured.compare_server`), failed and cut points included (they say so); ``records``, the
    isolated runs, add their own curve where they hold the same workload, and with ``estimates`` the $ per image
    at the SLO on each GPU.
    """
    points = [r for r in serve_records if isinstance(r, ServeRecord)]
    slo = slo_p99_s or next((r.slo_p99_s for r in serve_records if r.slo_p99_s), None)
    if not points and slo is None:
        return None
    groups: dict[str, list[ServeRecord]] = {}
    for p in points:
        groups.setdefault(p.serve_key, []).append(p)
    searches = {r.serve_key: r for r in serve_records if isinstance(r, SloRecord)}  # the last search of each
    compared = [compare_server(g, searches.get(key), records, slo) for key, g in groups.items()]
    curves = [curve for _, curve in compared]
    rows: list[SloCostRow] = []
    if slo is not None:
        rows, gpu_curves = slo_costs(estimates, slo)
        curves += gpu_curves
    bases = sorted({r.basis for r in rows if r.basis})
    notes = []
    if rows:
        notes.append(
            "$ / 1000 images at the SLO = $/h / (3600 x max rate at the SLO) x 1000: one replica loaded to the "
            "highest rate whose p99 latency meets the SLO (one FIFO queue, Poisson arrivals, batch 1); intervals: "
            "the search at the projection's low and high times, with the sampling error where simulated"
        )
    if bases:
        notes.append("max rate at the SLO computed by: " + "; ".join(bases))
    return ServingSection(slo, tuple(curves), tuple(rows), tuple(c for c, _ in compared), tuple(notes))


__all__ = [
    "CURVE_PRECISION",
    "Curve",
    "MeasuredPoint",
    "ServingSection",
    "SloCostRow",
    "build_serving",
    "curve_basis",
]

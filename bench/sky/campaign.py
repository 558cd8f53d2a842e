"""What measuring a scenario on a rented GPU will take: minutes and dollars per candidate GPU, with intervals.

Each CUDA run of the scenario costs, on one GPU: a fixed start (:data:`RUN_OVERHEAD_S`: a fresh interpreter,
torch import, CUDA context; an assumption), the model load (measured where a record of the workload on that
GPU exists, else the weights at the cost room's assumed disk rate, :data:`bench.cost.rental.ASSUMED_LOAD_GBPS`),
then its warmup and measured calls at the projected (or measured) seconds per image, capped by its
``timeout_s``. Low / mid / high take the projection's interval and, for adaptive runs, ``repeats`` at the low
and middle figures and ``max_repeats`` (bounded by ``max_time_s``) at the high one. A run whose workload does
not fit the GPU's memory costs its start and load only (it stops with ``oom``). The session adds
``setup_minutes`` (provisioning, installing torch and the project) to every figure, billed at the price the
price policy chose, times the GPUs the machine has (a task asking for ``NAME:8`` rents eight; the runs use one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.cost.catalog import Catalog
from bench.cost.projection import Estimate, MeasuredIndex, estimate_workload, measured_index, workload_key
from bench.cost.recommend import NoGpuFits, recommend
from bench.cost.rental import session_overhead
from bench.errors import KbenchError
from bench.results import RunRecord
from bench.spec import RunSpec, Workload

RUN_OVERHEAD_S = 20.0  # per run: interpreter, torch import, CUDA context (an assumption, not a measurement)
DEFAULT_SETUP_MINUTES = 10.0  # per rented machine: provisioning plus `pip install` of torch and the project


@dataclass(frozen=True)
class Span:
    """A low / middle / high figure."""

    low: float
    mid: float
    high: float

    def __add__(self, other: Span) -> Span:
        return Span(self.low + other.low, self.mid + other.mid, self.high + other.high)

    def scaled(self, factor: float) -> Span:
        return Span(self.low * factor, self.mid * factor, self.high * factor)


ZERO = Span(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class GpuCampaign:
    """The measurement campaign of one scenario on one candidate GPU."""

    gpu_id: str
    gpu_name: str
    runs: int  # CUDA runs measured
    oom_runs: int  # runs whose workload does not fit this GPU's memory
    measured_runs: int  # runs whose time comes from an earlier record on this GPU, not a projection
    minutes: Span  # including setup
    setup_minutes: float
    usd_per_hour: float | None  # of the machine: the GPU's price times ``gpus``
    price_provider: str | None
    price_date: str | None
    gpus: int = 1  # GPUs the machine has, all billed

    @property
    def usd(self) -> Span | None:
        return self.minutes.scaled(self.usd_per_hour / 60.0) if self.usd_per_hour is not None else None


def cuda_runs(specs: Sequence[RunSpec]) -> list[RunSpec]:
    """The runs a rented GPU measures (CPU runs of a scenario run there too, but cost no GPU time to plan)."""
    return [s for s in specs if s.device.startswith("cuda")]


def run_seconds(spec: RunSpec, estimate: Estimate, load_s: float) -> Span:
    """Seconds one run takes on the estimate's GPU (see the module docstring)."""
    fixed = RUN_OVERHEAD_S + load_s
    if not estimate.fits:
        return Span(fixed, fixed, fixed)
    lo, hi = estimate.s_per_image_interval or (estimate.s_per_image, estimate.s_per_image)
    per_call = [s * spec.images_per_call for s in (lo, estimate.s_per_image, hi)]
    calls = [spec.repeats, spec.repeats, spec.max_repeats]
    measured = [
        min(n * c, max(spec.repeats * c, spec.max_time_s)) if n > spec.repeats else n * c
        for n, c in zip(calls, per_call, strict=True)
    ]
    total = [min(fixed + spec.warmup * c + m, spec.timeout_s) for c, m in zip(per_call, measured, strict=True)]
    return Span(*total)


def estimate_campaign(
    specs: Sequence[RunSpec],
    catalog: Catalog,
    gpu_id: str,
    records: Iterable[RunRecord] = (),
    *,
    setup_minutes: float = DEFAULT_SETUP_MINUTES,
    gpus: int = 1,
) -> GpuCampaign:
    """Minutes and dollars of measuring the CUDA runs of ``specs`` on ``gpu_id``, on a machine of ``gpus`` of
    them (the dollars count every GPU rented, though the runs use one).

    Raises:
        KbenchError: the specs hold no CUDA run (a CPU scenario needs no rented GPU).
    """
    runs = cuda_runs(specs)
    if not runs:
        raise KbenchError("sky plan: the scenario has no CUDA run (device: cuda); nothing to measure on a GPU")
    gpu = catalog.get(gpu_id)
    index = MeasuredIndex(measured_index(records, catalog))
    cache: dict[tuple[object, ...], tuple[Estimate, float]] = {}
    total, oom, measured = ZERO, 0, 0
    for spec in runs:
        workload = Workload.from_spec(spec)
        key = workload_key(workload)
        if key not in cache:
            estimate = estimate_workload(workload, catalog, index, [gpu_id])[0]
            cache[key] = (estimate, session_overhead(estimate, workload, index).load_s)
        estimate, load_s = cache[key]
        oom += not estimate.fits
        measured += estimate.source == "measured"
        total = total + run_seconds(spec, estimate, load_s)
    price = gpu.cheapest_price()
    minutes = total.scaled(1 / 60.0) + Span(setup_minutes, setup_minutes, setup_minutes)
    return GpuCampaign(
        gpu_id=gpu.id,
        gpu_name=gpu.name,
        runs=len(runs),
        oom_runs=oom,
        measured_runs=measured,
        minutes=minutes,
        setup_minutes=setup_minutes,
        usd_per_hour=price.usd_per_hour * gpus if price else None,
        price_provider=price.provider if price else None,
        price_date=price.date if price else None,
        gpus=gpus,
    )


def top_gpus(specs: Sequence[RunSpec], catalog: Catalog, n: int, records: Iterable[RunRecord] = ()) -> list[str]:
    """The ``n`` GPUs ``recommend`` ranks cheapest per image over the scenario's workloads, each fitting all.

    Raises:
        KbenchError: no priced GPU fits every workload of the scenario.
    """
    kept = list(records)
    workloads = {workload_key(w): w for w in (Workload.from_spec(s) for s in cuda_runs(specs))}
    if not workloads:
        raise KbenchError("sky plan --top: the scenario has no CUDA run (device: cuda)")
    score: dict[str, float] = {}
    seen: dict[str, int] = {}
    for workload in workloads.values():
        try:
            ranked = recommend(workload, catalog, records=kept)
        except NoGpuFits:
            continue
        for e in ranked:
            score[e.gpu_id] = score.get(e.gpu_id, 0.0) + (e.usd_per_1k_images or 0.0)
            seen[e.gpu_id] = seen.get(e.gpu_id, 0) + 1
    eligible = sorted((s, g) for g, s in score.items() if seen[g] == len(workloads))
    if not eligible:
        raise KbenchError("sky plan --top: no priced GPU fits every workload of the scenario; name GPUs with --gpu")
    return [g for _, g in eligible[:n]]


__all__ = [
    "DEFAULT_SETUP_MINUTES",
    "RUN_OVERHEAD_S",
    "GpuCampaign",
    "Span",
    "cuda_runs",
    "estimate_campaign",
    "run_seconds",
    "top_gpus",
]

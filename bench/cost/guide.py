"""The deployment guide's tables as plain data: time and cost per image by workload and GPU, VRAM needed and
the smallest GPU that fits, rental prices, the best GPU per workload, and the model comparison.

Pure (estimates, records and the catalog in, frozen rows out). Which workloads the estimates cover is
decided in :mod:`bench.cost.guide_workloads`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.cost.catalog import Catalog, GpuSpec
from bench.cost.costs import rental_table
from bench.cost.model_comparison import ModelRow, compare_models
from bench.cost.projection import Estimate, Source
from bench.cost.record_gpu import ran_on_cpu, record_gpu
from bench.results import RunRecord
from bench.results.registered import stands_for_registered

WORKLOAD_HEADERS = ("model", "task", "resolution", "steps", "batch", "dtype", "memory")
NO_FIT = "does not fit in VRAM"


@dataclass(frozen=True)
class Cell:
    """One value of a guide table, with whether it was measured or projected."""

    value: float | None
    source: Source
    note: str = ""


@dataclass(frozen=True)
class GuideRow:
    """A workload (model, task, resolution, steps, batch, dtype, memory) with one cell per GPU column."""

    label: tuple[str, ...]
    cells: tuple[Cell | None, ...]


@dataclass(frozen=True)
class GuideTable:
    """A workload x GPU table, like the deployment guide's time-per-image table."""

    gpu_ids: tuple[str, ...]
    gpu_names: tuple[str, ...]
    rows: tuple[GuideRow, ...]


@dataclass(frozen=True)
class VramRow:
    """VRAM a workload needs and the smallest catalog GPU it fits on."""

    label: tuple[str, ...]
    vram_needed_gb: float | None
    source: Source
    smallest_gpu: str | None
    smallest_gpu_vram_gb: float | None


@dataclass(frozen=True)
class RentalRates:
    """Cheapest known rental price of one GPU and what an hour, a day and a 4-hour session cost."""

    gpu_id: str
    gpu_name: str
    vram_gb: float
    usd_per_hour: float
    usd_per_day: float
    usd_per_session_4h: float
    provider: str
    tier: str
    date: str
    source: str


def workload_label(est: Estimate) -> tuple[str, ...]:
    """The guide's row key for an estimate: what defines the workload, not where it ran."""
    return (est.model, est.task, str(est.resolution), str(est.steps), str(est.batch_size), est.dtype, est.memory)


def _prefer(current: Estimate | None, new: Estimate) -> Estimate:
    """Measured beats projected; otherwise the first one seen wins (input order is stable)."""
    if current is None or (current.source != "measured" and new.source == "measured"):
        return new
    return current


def _gpu_order(estimates: Sequence[Estimate], catalog: Catalog) -> list[str]:
    ids = {e.gpu_id for e in estimates}
    known = [g for g in catalog.gpus if g in ids]  # catalog order: the data file orders GPUs deliberately
    return known + sorted(ids - set(known))


def best_by_workload(estimates: Sequence[Estimate]) -> dict[tuple[str, ...], dict[str, Estimate]]:
    """Estimates grouped by workload label (first-seen order), one per GPU: measured preferred."""
    table: dict[tuple[str, ...], dict[str, Estimate]] = {}
    for est in estimates:
        per_gpu = table.setdefault(workload_label(est), {})
        per_gpu[est.gpu_id] = _prefer(per_gpu.get(est.gpu_id), est)
    return table


def _guide_table(estimates: Sequence[Estimate], catalog: Catalog, field: str) -> GuideTable:
    gpu_ids = _gpu_order(estimates, catalog)
    names = tuple(catalog.gpus[g].name if g in catalog.gpus else g for g in gpu_ids)
    rows: list[GuideRow] = []
    for label, per_gpu in best_by_workload(estimates).items():
        cells: list[Cell | None] = []
        for gid in gpu_ids:
            est = per_gpu.get(gid)
            if est is None:
                cells.append(None)
            elif not est.fits:
                cells.append(Cell(None, est.source, NO_FIT))
            else:
                value = getattr(est, field)
                cells.append(Cell(value, est.source, "" if value is not None else "no price"))
        rows.append(GuideRow(label, tuple(cells)))
    return GuideTable(tuple(gpu_ids), names, tuple(rows))


def time_table(estimates: Sequence[Estimate], catalog: Catalog) -> GuideTable:
    """Seconds per image by workload (rows) and GPU (columns); measured where measured, else projected."""
    return _guide_table(estimates, catalog, "s_per_image")


def cost_table(estimates: Sequence[Estimate], catalog: Catalog) -> GuideTable:
    """Dollars per 1000 images by workload and GPU, at each GPU's cheapest catalog price."""
    return _guide_table(estimates, catalog, "usd_per_1k_images")


def _price_or_inf(gpu: GpuSpec) -> float:
    price = gpu.cheapest_price()
    return price.usd_per_hour if price is not None else float("inf")


def vram_table(estimates: Sequence[Estimate], catalog: Catalog) -> list[VramRow]:
    """VRAM each workload needs and the smallest GPU (by VRAM, then price) it fits on."""
    rows: list[VramRow] = []
    for label, per_gpu in best_by_workload(estimates).items():
        ests = list(per_gpu.values())
        pick = next((e for e in ests if e.vram_source == "measured"), ests[0])
        fitting = [catalog.gpus[e.gpu_id] for e in ests if e.fits and e.gpu_id in catalog.gpus]
        smallest = min(fitting, key=lambda g: (g.vram_gb, _price_or_inf(g)), default=None)
        rows.append(
            VramRow(
                label=label,
                vram_needed_gb=pick.vram_needed_gb,
                source=pick.vram_source,
                smallest_gpu=smallest.name if smallest else None,
                smallest_gpu_vram_gb=smallest.vram_gb if smallest else None,
            )
        )
    return rows


def rental_rates(catalog: Catalog, gpu_ids: Iterable[str]) -> list[RentalRates]:
    """Rental cost per hour, day and 4-hour session for each listed GPU that has a price, in catalog order."""
    wanted = set(gpu_ids)
    rows: list[RentalRates] = []
    for gid, gpu in catalog.gpus.items():
        price = gpu.cheapest_price()
        if gid not in wanted or price is None:
            continue
        costs = rental_table(price.usd_per_hour)
        rows.append(
            RentalRates(
                gpu_id=gid,
                gpu_name=gpu.name,
                vram_gb=gpu.vram_gb,
                usd_per_hour=price.usd_per_hour,
                usd_per_day=costs["day"],
                usd_per_session_4h=costs["session_4h"],
                provider=price.provider,
                tier=str(price.tier or ""),
                date=str(price.date or ""),
                source=str(price.source or ""),
            )
        )
    return rows


# GPUs of the model comparison when no record ran on a catalog GPU: the deployment guide's consumer card
# and a data-centre card.
COMPARISON_DEFAULT_GPUS = ("rtx4090", "a100-80gb-sxm")


def real_gpu_records(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Records that can stand for a full-size model on a GPU: the registered architecture, not run on the CPU."""
    return [r for r in records if stands_for_registered(r) and not ran_on_cpu(r)]


def model_comparison(records: Sequence[RunRecord], catalog: Catalog) -> list[ModelRow]:
    """The model comparison for the models of the ok records only (not the whole registry).

    A model with an ok full-size GPU record is compared at that record's resolution, steps and dtype, so the
    record measures its cells; any other model (say, one only run with tiny weights on a CPU) at its registry
    defaults in fp16. GPUs: the catalog GPUs the records ran on, else :data:`COMPARISON_DEFAULT_GPUS`.
    """
    models = list(dict.fromkeys(r.spec.model for r in records if r.ok))
    real = real_gpu_records(records)
    firsts: dict[str, RunRecord] = {}
    for rec in real:
        if rec.ok:
            firsts.setdefault(rec.spec.model, rec)
    gpus = list(dict.fromkeys(g.id for r in real if (g := record_gpu(r, catalog)) is not None))
    gpus = gpus or [g for g in COMPARISON_DEFAULT_GPUS if g in catalog.gpus]
    if not gpus:
        return []
    rows: list[ModelRow] = []
    for model in models:
        first = firsts.get(model)
        if first is None:
            rows += compare_models(catalog, gpus, models=[model], dtype="fp16", records=real)
            continue
        spec = first.spec
        size = (spec.width, spec.height)
        rows += compare_models(
            catalog, gpus, models=[model], resolution=size, steps=spec.steps, dtype=spec.dtype, records=real
        )
    return rows


__all__ = [
    "COMPARISON_DEFAULT_GPUS",
    "NO_FIT",
    "WORKLOAD_HEADERS",
    "Cell",
    "GuideRow",
    "GuideTable",
    "RentalRates",
    "Source",
    "VramRow",
    "best_by_workload",
    "cost_table",
    "model_comparison",
    "real_gpu_records",
    "rental_rates",
    "time_table",
    "vram_table",
    "workload_label",
]

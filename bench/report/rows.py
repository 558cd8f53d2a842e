"""The summary table of measured runs: one row per record, with its peak memory and its own measured cost.

Pure (records and the catalog in, frozen rows out), so the HTML, markdown and CSV renderers show the same
numbers and tests can check them without rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.cost.catalog import Catalog
from bench.cost.costs import usd_per_1k_images
from bench.cost.record_gpu import ran_on_cpu, record_gpu
from bench.report.architecture import row_label
from bench.results import RunRecord
from bench.results.peak import MemoryKind, peak_memory

NO_COST_CPU = "CPU run: no GPU rental price applies; see the projected costs per GPU"
NO_COST_NOT_IN_CATALOG = "the GPU this ran on is not in the catalog, or has no price there"
NO_COST_FAILED = "no timing: the run did not finish"
SUMMARY_COLUMNS = (
    "scenario",
    "model",
    "task",
    "language",
    "resolution",
    "steps",
    "batch",
    "dtype",
    "memory",
    "device",
    "weights",
    "status",
    "reason",
    "median_s_per_image",
    "p90_s_per_image",
    "images_per_s",
    "peak_memory_mb",
    "peak_memory_kind",
    "energy_j_per_image",
    "usd_per_1k_images",
    "cost_note",
)
"""Column order of the CSV and the field names of :class:`SummaryRow`."""


@dataclass(frozen=True)
class SummaryRow:
    """One run as the summary table shows it; numbers are raw (formatting is the renderer's job)."""

    run_key: str
    scenario: str
    model: str
    task: str
    language: str
    resolution: str
    pixels: int
    steps: int
    batch: str
    dtype: str
    memory: str
    device: str
    weights: str
    status: str
    reason: str
    median_s_per_image: float | None
    p90_s_per_image: float | None
    images_per_s: float | None
    peak_memory_mb: float | None
    peak_memory_kind: MemoryKind | None
    energy_j_per_image: float | None
    usd_per_1k_images: float | None
    cost_note: str

    def as_dict(self) -> dict[str, Any]:
        """The CSV columns, in :data:`SUMMARY_COLUMNS` order."""
        return {name: getattr(self, name) for name in SUMMARY_COLUMNS}


def _batch_label(batch_size: int, images_per_prompt: int = 1) -> str:
    return str(batch_size) if images_per_prompt == 1 else f"{batch_size}×{images_per_prompt}"


def measured_cost(record: RunRecord, catalog: Catalog) -> tuple[float | None, str]:
    """$ per 1000 images of this record's own median on the GPU it ran on, at that GPU's cheapest price."""
    if record.summary is None:
        return None, NO_COST_FAILED
    if ran_on_cpu(record):
        return None, NO_COST_CPU
    gpu = record_gpu(record, catalog)
    price = gpu.cheapest_price() if gpu is not None else None
    if gpu is None or price is None:
        return None, NO_COST_NOT_IN_CATALOG
    usd = usd_per_1k_images(record.summary.median_s_per_image, price.usd_per_hour)
    return usd, f"measured on {gpu.name} at ${price.usd_per_hour:g}/h ({price.label()}, {price.date})"


def summary_rows(records: Sequence[RunRecord], catalog: Catalog) -> list[SummaryRow]:
    """One row per record, in input order; failed and skipped runs keep their status and reason."""
    rows: list[SummaryRow] = []
    for rec in records:
        spec, summ = rec.spec, rec.summary
        peak = peak_memory(rec)
        usd, note = measured_cost(rec, catalog)
        reason = rec.reason or (f"{rec.error.type}: {rec.error.message}" if rec.error else "") or row_label(rec)
        rows.append(
            SummaryRow(
                run_key=rec.run_key,
                scenario=spec.scenario,
                model=spec.model,
                task=spec.task,
                language=spec.language,
                resolution=spec.resolution,
                pixels=spec.width * spec.height,
                steps=spec.steps,
                batch=_batch_label(spec.batch_size, spec.images_per_prompt),
                dtype=spec.dtype,
                memory=spec.memory,
                device=spec.device,
                weights=spec.weights,
                status=rec.status,
                reason=reason,
                median_s_per_image=summ.median_s_per_image if summ else None,
                p90_s_per_image=summ.p90_s_per_image if summ else None,
                images_per_s=summ.images_per_s if summ else None,
                peak_memory_mb=peak.mb if peak else None,
                peak_memory_kind=peak.kind if peak else None,
                energy_j_per_image=rec.energy.energy_j_per_image,
                usd_per_1k_images=usd,
                cost_note=note,
            )
        )
    return rows


__all__ = [
    "NO_COST_CPU",
    "NO_COST_FAILED",
    "NO_COST_NOT_IN_CATALOG",
    "SUMMARY_COLUMNS",
    "SummaryRow",
    "measured_cost",
    "summary_rows",
]

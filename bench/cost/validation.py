"""Fit, cross-validate and document the projection against the published timings.

:func:`validate` counts every row's workload (cached), fits the op-level model on the ``use: fit`` rows, runs
leave-one-GPU-out and leave-one-model-out cross-validation, computes the interval bands from the held-out
residuals and their coverage, and projects every row (fitted, excluded and check rows) with the constants given.
:func:`constants_document` is what ``bench/data/projection_constants.json`` holds: the constants, the fit date,
the inputs (dataset hash, row count, counting method and library versions) and the bands.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.cache import library_versions
from bench.cost.catalog import Catalog
from bench.cost.counting.cache import COUNT_METHOD_VERSION
from bench.cost.fit import Design, FitResult, cross_validate, fit, legacy_seconds, summarise
from bench.cost.intervals import IntervalTable, calibrated_band, grouped_bands, held_out_hits, quantile_band
from bench.cost.roofline import ModelConstants, family
from bench.cost.timings import (
    PublishedRow,
    PublishedVram,
    RowCase,
    bundled_timings_path,
    dataset_sha256,
    denoiser_kind,
    load_timings,
    load_vram,
    model_family,
    row_profile,
)
from bench.cost.vram import VramEstimate, estimate_vram

CONSTANTS_SCHEMA_VERSION = 1
Progress = Callable[[int, int, PublishedRow], None]


def prepare_cases(catalog: Catalog, rows: list[PublishedRow], progress: Progress | None = None) -> list[RowCase]:
    """Count every row's workload on meta (cached on disk); ``progress(i, n, row)`` is called before each."""
    cases = []
    for i, row in enumerate(rows):
        if progress is not None:
            progress(i, len(rows), row)
        cases.append(RowCase(row, catalog.get(row.gpu), row_profile(row)))
    return cases


@dataclass(frozen=True)
class RowResult:
    """One row: published seconds, projected with the given constants, the held-out projections, the old model."""

    case: RowCase
    projected_s: float
    cv_gpu_s: float | None  # fitted rows only
    cv_model_s: float | None
    legacy_s: float

    @property
    def error(self) -> float:
        return self.projected_s / self.case.row.seconds - 1


@dataclass(frozen=True)
class Validation:
    """Everything ``kbench projection-check`` prints and the constants file records."""

    fit: FitResult
    rows: list[RowResult]
    cv_gpu: np.ndarray  # log residuals of the fitted rows, leave-one-GPU-out
    cv_model: np.ndarray  # ... leave-one-model-out
    cv_family: np.ndarray  # ... leave-one-model-family-out (SD 1.5 and 2.1 together, FLUX.1 dev and schnell)
    fitted: list[RowCase]
    intervals: IntervalTable
    coverage: dict[str, float]
    constants: ModelConstants
    coverage_by_family: dict[str, dict[str, float]]  # model family -> {"gpu", "model", "family"} -> share covered

    def groups(self, key: Callable[[RowCase], str]) -> dict[str, dict[str, dict[str, float]]]:
        """CV error summaries per group (``key``), for each cross-validation."""
        labels = [key(c) for c in self.fitted]
        out: dict[str, dict[str, dict[str, float]]] = {}
        for group in sorted(set(labels)):
            mask = np.array([label == group for label in labels])
            out[group] = {
                "gpu": summarise(self.cv_gpu[mask]),
                "model": summarise(self.cv_model[mask]),
                "family": summarise(self.cv_family[mask]),
            }
        return out


def gpu_class(case: RowCase) -> str:
    return family(case.gpu)


def row_model_family(case: RowCase) -> str:
    return model_family(case.row.model)


def validate(cases: list[RowCase], constants: ModelConstants | None = None) -> Validation:
    """Fit, cross-validate and project every row (with ``constants``, default: a fresh fit)."""
    fitted = [c for c in cases if c.row.use == "fit"]
    design = Design(fitted)
    result = fit(design)
    cv_gpu = cross_validate(design, lambda c: c.gpu.id, result.x)
    cv_model = cross_validate(design, lambda c: c.row.model, result.x)
    cv_family = cross_validate(design, row_model_family, result.x)
    chosen = constants or result.constants()
    projected = Design(cases).predict(chosen)
    held: dict[int, tuple[float | None, float | None]] = {
        id(c): (math.exp(g) * c.row.seconds, math.exp(m) * c.row.seconds)
        for c, g, m in zip(fitted, cv_gpu, cv_model, strict=True)
    }
    rows = []
    for c, p in zip(cases, projected, strict=True):
        by_gpu, by_model = held.get(id(c), (None, None))
        rows.append(RowResult(c, float(p), by_gpu, by_model, legacy_seconds(c)))
    gpu_ids = [c.gpu.id for c in fitted]
    models = [c.row.model for c in fitted]
    families = [row_model_family(c) for c in fitted]
    table = IntervalTable(
        gpu_unseen=grouped_bands(cv_gpu, [gpu_class(c) for c in fitted], gpu_ids),
        model_unseen=grouped_bands(cv_family, [denoiser_kind(c.profile) for c in fitted], models),
        both_seen=quantile_band(np.concatenate([cv_gpu, cv_model])),
        calibrated_gpu_seen=calibrated_band(result.residuals, result.residuals, models, gpu_ids),
        calibrated_gpu_unseen=calibrated_band(cv_gpu, result.residuals, models, gpu_ids),
        calibrated_same_gpu=calibrated_band(result.residuals, result.residuals, models, gpu_ids, same_gpu=True),
        fitted_gpus=frozenset(gpu_ids),
        fitted_models=frozenset(models),
    )
    hits = {
        "gpu": held_out_hits(cv_gpu, gpu_ids),
        "model": held_out_hits(cv_model, models),
        "family": held_out_hits(cv_family, families, models),
    }
    coverage = {f"leave_one_{k}_out": float(h.mean()) for k, h in hits.items()}
    labels = np.array(families)
    by_family = {f: {k: float(h[labels == f].mean()) for k, h in hits.items()} for f in sorted(set(families))}
    return Validation(result, rows, cv_gpu, cv_model, cv_family, fitted, table, coverage, chosen, by_family)


def constants_document(v: Validation, dataset: Path | None = None, today: str | None = None) -> dict[str, Any]:
    """The JSON document shipped as ``bench/data/projection_constants.json``."""
    dataset = dataset or bundled_timings_path()
    return {
        "schema_version": CONSTANTS_SCHEMA_VERSION,
        "fitted": today or dt.date.today().isoformat(),
        "method": (
            "scipy.optimize.least_squares on log(projected/published), loss soft_l1 (f_scale 0.1), weak log-normal "
            "priors (bench/cost/fit.py PARAMS)"
        ),
        "inputs": {
            "dataset": dataset.name,
            "dataset_sha256": dataset_sha256(dataset),
            "rows_fitted": len(v.fitted),
            "gpus": sorted({c.gpu.id for c in v.fitted}),
            "models": sorted({c.row.model for c in v.fitted}),
            "count_method_version": COUNT_METHOD_VERSION,
            "libraries": library_versions(),
        },
        "params": {k: float(f"{x:.6g}") for k, x in v.fit.params.items()},
        "intervals": v.intervals.to_json(),
        "coverage": v.coverage,
        "coverage_by_family": v.coverage_by_family,
        "cv": {
            "leave_one_gpu_out": summarise(v.cv_gpu),
            "leave_one_model_out": summarise(v.cv_model),
            "leave_one_family_out": summarise(v.cv_family),
        },
    }


def write_constants(document: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def load_cases(catalog: Catalog, progress: Progress | None = None, path: Path | None = None) -> list[RowCase]:
    """The dataset's rows, counted."""
    return prepare_cases(catalog, load_timings(catalog, path), progress)


@dataclass(frozen=True)
class VramCheck:
    """One published peak beside the estimate of what that figure counts (its ``basis``)."""

    row: PublishedVram
    estimate: VramEstimate

    @property
    def estimated_gib(self) -> float:
        """The allocator's part for an allocator peak, else the whole estimate with its context allowance."""
        return self.estimate.allocated_gib if self.row.basis == "allocated" else self.estimate.total_gib

    @property
    def error(self) -> float:
        return self.estimated_gib / self.row.peak_gib - 1


def check_vram(catalog: Catalog, path: Path | None = None) -> list[VramCheck]:
    """Estimate every published peak of the VRAM dataset (``bench/data/published_vram.yaml`` by default)."""
    return [VramCheck(row, estimate_vram(row_profile(row))) for row in load_vram(catalog, path)]


__all__ = [
    "RowResult",
    "Validation",
    "VramCheck",
    "check_vram",
    "constants_document",
    "gpu_class",
    "load_cases",
    "prepare_cases",
    "row_model_family",
    "validate",
    "write_constants",
]

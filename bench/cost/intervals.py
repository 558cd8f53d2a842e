"""Intervals on projected seconds, from the cross-validated residuals of the fit.

A residual is ``r = log(projected / published)`` of a row projected by a fit that never saw its GPU
(leave-one-GPU-out) or its model (leave-one-model-out). The interval of a projection is
``[s · exp(-q_hi), s · exp(-q_lo)]`` with ``q_lo, q_hi`` the :data:`LEVELS` quantiles of the residuals of what
the projection has not seen: the model's (when no fitted row has it: the residuals of leave-one-model-family-out,
grouped by denoiser kind, UNet or DiT), the GPU's (when no fitted row ran on it: leave-one-GPU-out, grouped by
architecture family), both combined when neither was seen (centres add, half-widths add in quadrature), and the
pooled residuals of the cross-validations when both were seen. A group with fewer than :data:`MIN_GROUP` residuals
falls back to its pool, and a group's band is never narrower than its pool's (a few similar rows — FLUX.1 dev and
schnell are one transformer — must not promise a tight band to another model of the kind).

The pool is hierarchical (:func:`hierarchical_band`): the rows of one unit (a GPU, a model) share a bias, so a new
unit's error is a new bias plus the within-unit scatter. The bias is drawn from the spread of the
units' median residuals, widened by Student's t for the few units there are (seven models, fifteen GPUs):
with few units the band is wide, and it narrows as published rows of new units arrive. Pooled quantiles alone
covered 39% of the rows of a held-out family, because one family's bias is not in the other families' scatter.

A calibrated projection transfers a measured ratio from one GPU to another, so the model-specific error cancels:
its interval comes from the differences ``r_i - r_j`` between the residual of a row and the in-sample residual of
another row of the same model on another GPU (``r_i`` in-sample when the target GPU was fitted, held out when not),
or on the same GPU when the calibration ran there, widened by the measurement's own 95% confidence interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.cost.roofline import shipped_constants

LEVELS = (0.05, 0.95)  # a central 90% band (its coverage per model family: kbench projection-check)
MIN_GROUP = 8
ALL = "all"

Band = tuple[float, float]  # (q_lo, q_hi) of log residuals


def quantile_band(residuals: np.ndarray) -> Band:
    lo, hi = np.quantile(residuals, LEVELS)
    return float(lo), float(hi)


def hierarchical_band(residuals: np.ndarray, units: list[str]) -> Band:
    """The band of a unit no residual came from: a new unit bias plus the within-unit scatter.

    Unit biases are the units' median residuals; a new one is predicted from their mean and spread with Student's
    t at ``k - 1`` degrees of freedom and the ``sqrt(1 + 1/k)`` of a new draw; the within-unit quantiles
    (:data:`LEVELS`) of the residuals less their unit's bias add in quadrature (:func:`combine`). Never narrower than
    the pooled quantiles; a single unit gives the pooled quantiles.
    """
    from scipy.stats import t as student_t

    pooled = quantile_band(residuals)
    labels = np.array(units)
    names = sorted(set(units))
    if len(names) < 2:
        return pooled
    bias = {u: float(np.median(residuals[labels == u])) for u in names}
    biases = np.array(list(bias.values()))
    k = len(names)
    half = float(student_t.ppf(LEVELS[1], k - 1) * biases.std(ddof=1) * math.sqrt(1 + 1 / k))
    centre = float(biases.mean())
    within = quantile_band(residuals - np.array([bias[u] for u in units]))
    lo, hi = combine([(centre - half, centre + half), within])
    return min(lo, pooled[0]), max(hi, pooled[1])


def grouped_bands(residuals: np.ndarray, groups: list[str], units: list[str] | None = None) -> dict[str, Band]:
    """Bands of all residuals (key :data:`ALL`) and of every group with at least :data:`MIN_GROUP` of them.

    ``units``: the held-out unit of each residual (GPU id, model family); the pool is then hierarchical over them.
    """
    out = {ALL: hierarchical_band(residuals, units) if units is not None else quantile_band(residuals)}
    labels = np.array(groups)
    for group in sorted(set(groups)):
        mask = labels == group
        if mask.sum() >= MIN_GROUP:
            out[group] = quantile_band(residuals[mask])
    return out


def combine(bands: list[Band]) -> Band:
    """Independent errors: centres add, half-widths add in quadrature."""
    centre = sum((lo + hi) / 2 for lo, hi in bands)
    half = math.sqrt(sum(((hi - lo) / 2) ** 2 for lo, hi in bands))
    return centre - half, centre + half


def calibrated_band(
    target: np.ndarray, source: np.ndarray, models: list[str], gpus: list[str], same_gpu: bool = False
) -> Band:
    """Quantiles of ``target_i - source_j`` over pairs of other rows of the same model on other GPUs (or the same
    GPU with ``same_gpu``)."""
    diffs = [
        target[i] - source[j]
        for i in range(len(models))
        for j in range(len(models))
        if i != j and models[i] == models[j] and (gpus[i] == gpus[j]) == same_gpu
    ]
    return quantile_band(np.array(diffs)) if diffs else (math.nan, math.nan)


@dataclass(frozen=True)
class IntervalTable:
    """The bands shipped with the constants, and which GPUs and models the fit saw."""

    gpu_unseen: dict[str, Band]  # architecture family (or ALL) -> band of leave-one-GPU-out residuals
    model_unseen: dict[str, Band]  # denoiser kind (or ALL) -> band of leave-one-model-out residuals
    both_seen: Band
    calibrated_gpu_seen: Band
    calibrated_gpu_unseen: Band
    calibrated_same_gpu: Band
    fitted_gpus: frozenset[str]
    fitted_models: frozenset[str]

    def band(self, gpu_id: str, gpu_family: str, model: str, denoiser: str) -> Band:
        bands = []
        if model not in self.fitted_models:
            bands.append(_envelope(self.model_unseen, denoiser))
        if gpu_id not in self.fitted_gpus:
            bands.append(_envelope(self.gpu_unseen, gpu_family))
        return combine(bands) if bands else self.both_seen

    def calibrated_band(self, gpu_id: str, measured_on: str) -> Band:
        """The band of a projection onto ``gpu_id`` calibrated by a measurement of the same model on ``measured_on``."""
        if gpu_id == measured_on:
            return self.calibrated_same_gpu
        return self.calibrated_gpu_seen if gpu_id in self.fitted_gpus else self.calibrated_gpu_unseen

    def to_json(self) -> dict[str, Any]:
        return {
            "levels": list(LEVELS),
            "gpu_unseen": {k: list(v) for k, v in self.gpu_unseen.items()},
            "model_unseen": {k: list(v) for k, v in self.model_unseen.items()},
            "both_seen": list(self.both_seen),
            "calibrated_gpu_seen": list(self.calibrated_gpu_seen),
            "calibrated_gpu_unseen": list(self.calibrated_gpu_unseen),
            "calibrated_same_gpu": list(self.calibrated_same_gpu),
            "fitted_gpus": sorted(self.fitted_gpus),
            "fitted_models": sorted(self.fitted_models),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IntervalTable:
        def band(v: list[float]) -> Band:
            return float(v[0]), float(v[1])

        return cls(
            gpu_unseen={k: band(v) for k, v in data["gpu_unseen"].items()},
            model_unseen={k: band(v) for k, v in data["model_unseen"].items()},
            both_seen=band(data["both_seen"]),
            calibrated_gpu_seen=band(data["calibrated_gpu_seen"]),
            calibrated_gpu_unseen=band(data["calibrated_gpu_unseen"]),
            calibrated_same_gpu=band(data["calibrated_same_gpu"]),
            fitted_gpus=frozenset(data["fitted_gpus"]),
            fitted_models=frozenset(data["fitted_models"]),
        )


def _envelope(bands: dict[str, Band], group: str) -> Band:
    pool = bands[ALL]
    own = bands.get(group, pool)
    return min(own[0], pool[0]), max(own[1], pool[1])


def apply(seconds: float, band: Band) -> tuple[float, float]:
    """The interval ``[s · exp(-q_hi), s · exp(-q_lo)]`` for projected ``seconds``."""
    lo, hi = band
    return seconds * math.exp(-hi), seconds * math.exp(-lo)


def widen(band: Band, half_width: float) -> Band:
    """A band widened by an independent symmetric error of ``half_width`` (log units), in quadrature."""
    centre, half = (band[0] + band[1]) / 2, (band[1] - band[0]) / 2
    total = math.sqrt(half**2 + half_width**2)
    return centre - total, centre + total


def shipped_intervals() -> IntervalTable:
    """The bands shipped with the fitted constants."""
    return IntervalTable.from_json(shipped_constants().meta["intervals"])


def held_out_hits(residuals: np.ndarray, groups: list[str], units: list[str] | None = None) -> np.ndarray:
    """Whether each row's residual lies in the band built from the *other* groups' residuals (its group held out).

    ``units`` (default: the groups) are what the band's bias spread is taken over, e.g. the models of the other
    families when a family is held out.
    """
    labels = np.array(groups)
    unit_of = units if units is not None else groups
    hits = np.zeros(len(groups), dtype=bool)
    for group in sorted(set(groups)):
        mine = labels == group
        others = [u for u, g in zip(unit_of, groups, strict=True) if g != group]
        if not others:
            continue
        lo, hi = hierarchical_band(residuals[~mine], others)
        hits[mine] = (lo <= residuals[mine]) & (residuals[mine] <= hi)
    return hits


def held_out_coverage(residuals: np.ndarray, groups: list[str]) -> float:
    """Share of rows whose residual lies in the band of the *other* groups' residuals (the row's group held out)."""
    return float(held_out_hits(residuals, groups).mean()) if groups else math.nan


__all__ = [
    "ALL",
    "LEVELS",
    "MIN_GROUP",
    "IntervalTable",
    "apply",
    "calibrated_band",
    "combine",
    "grouped_bands",
    "held_out_coverage",
    "held_out_hits",
    "hierarchical_band",
    "quantile_band",
    "shipped_intervals",
    "widen",
]

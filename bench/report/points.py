"""Points of the cost figures: one (workload, GPU) point per fitting GPU, and the Pareto front of a set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost.projection import Estimate
from bench.report.guide import Source, best_by_workload, workload_label


@dataclass(frozen=True)
class CostPoint:
    """One (workload, GPU) point for the cost figures."""

    workload: str
    model: str
    gpu_id: str
    gpu_name: str
    s_per_image: float
    usd_per_1k_images: float
    source: Source


def _workload_size(label: tuple[str, ...]) -> tuple[int, int]:
    width, _, height = label[2].partition("x")
    try:
        pixels = int(width) * int(height or width)
    except ValueError:
        pixels = 0
    return pixels, int(label[3]) if label[3].isdigit() else 0


def focus_points(estimates: Sequence[Estimate], max_models: int = 6) -> list[CostPoint]:
    """Cost points for one workload per model (its largest resolution), so GPUs compare like for like.

    Mixing workloads in one cost figure would make a small image look like a cheap GPU, so each model
    contributes one workload: the one with the most pixels, then the most steps, then the first seen (the
    guide workloads list memory option ``none`` first).
    """
    by_model: dict[str, tuple[str, ...]] = {}
    for est in estimates:
        label = workload_label(est)
        current = by_model.get(est.model)
        if current is None or _workload_size(label) > _workload_size(current):
            by_model[est.model] = label
    chosen = {by_model[m]: m for m in sorted(by_model)[:max_models]}
    points: list[CostPoint] = []
    for label, per_gpu in best_by_workload(estimates).items():
        if label not in chosen:
            continue
        for est in per_gpu.values():
            if est.fits and est.s_per_image is not None and est.usd_per_1k_images is not None:
                points.append(
                    CostPoint(
                        workload=" ".join(label),
                        model=est.model,
                        gpu_id=est.gpu_id,
                        gpu_name=est.gpu_name,
                        s_per_image=est.s_per_image,
                        usd_per_1k_images=est.usd_per_1k_images,
                        source=est.source,
                    )
                )
    return points


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower is better), sorted by x.

    A point is dominated when another is <= on both coordinates and < on at least one.
    Sort by (x, y) and keep each point whose y is below every y seen so far: O(n log n).
    """
    order = sorted(range(len(points)), key=lambda i: points[i])
    front: list[int] = []
    best_y = float("inf")
    for i in order:
        if points[i][1] < best_y:
            front.append(i)
            best_y = points[i][1]
    return front


__all__ = ["CostPoint", "focus_points", "pareto_front"]

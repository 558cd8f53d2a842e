"""Points of the cost figures: one (workload, GPU) point per fitting GPU, and the Pareto front of a set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost.projection import Source
from bench.cost.recommendation import Recommendation
from bench.report.answer import workload_title


@dataclass(frozen=True)
class CostPoint:
    """One (workload, GPU) point for the cost figures, under the memory option the answer chose for that GPU."""

    workload: str
    model: str
    gpu_id: str
    gpu_name: str
    s_per_image: float
    usd_per_1k_images: float
    source: Source
    memory: str = "none"


def focus_points(answers: Sequence[Recommendation], max_models: int = 6) -> list[CostPoint]:
    """Cost points for one workload per model (its largest), every GPU of its answer, as ``recommend`` chose.

    Mixing workloads in one cost figure would make a small image look like a cheap GPU, so each model
    contributes one workload: the one with the most pixels, then the most steps, then the first. Each GPU is
    plotted under the memory option the answer picked for it (the fastest that fits), so a model too large for a
    card without offload still has its point where ``kbench recommend`` ranks it.
    """
    by_model: dict[str, Recommendation] = {}
    for a in answers:
        w = a.workload
        current = by_model.get(w.model)
        if current is None or (w.width * w.height, w.steps) > (
            current.workload.width * current.workload.height,
            current.workload.steps,
        ):
            by_model[w.model] = a
    points: list[CostPoint] = []
    for model in sorted(by_model)[:max_models]:
        a = by_model[model]
        label = workload_title(a)
        for r in a.rows:
            if r.cost is None:
                continue
            e = r.estimate
            points.append(
                CostPoint(
                    label,
                    model,
                    e.gpu_id,
                    e.gpu_name,
                    e.s_per_image,
                    r.cost.steady_usd_per_1k_images,
                    e.source,
                    e.memory,
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

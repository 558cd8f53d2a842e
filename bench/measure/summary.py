"""Turn raw per-call timings into the record's :class:`~bench.results.Summary` (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from bench import stats
from bench.results import Summary


def summarise(
    per_image_s: Sequence[float],
    *,
    steps: int,
    stage_s: dict[str, list[float]],
    unaccounted_s: Sequence[float],
    images_per_call: int,
) -> Summary:
    """Statistics over seconds per image; stage times are medians per image."""
    if not per_image_s:
        raise ValueError("no measured calls to summarise")
    median = stats.percentile(per_image_s, 50)
    lo, hi = stats.median_ci(per_image_s)
    stage_per_image = {k: stats.percentile(v, 50) / images_per_call for k, v in stage_s.items() if v}
    denoise = stage_s.get("denoise")
    s_per_step = stats.percentile(denoise, 50) / steps if denoise and steps else None
    return Summary(
        n=len(per_image_s),
        median_s_per_image=median,
        mean_s_per_image=stats.mean(per_image_s),
        p90_s_per_image=stats.percentile(per_image_s, 90),
        p99_s_per_image=stats.percentile(per_image_s, 99),
        min_s_per_image=min(per_image_s),
        max_s_per_image=max(per_image_s),
        cv=stats.cv(per_image_s),
        ci95_low_s_per_image=lo,
        ci95_high_s_per_image=hi,
        images_per_s=1.0 / median if median > 0 else 0.0,
        s_per_step=s_per_step,
        stage_s_per_image=stage_per_image,
        unaccounted_s_per_image=stats.percentile(unaccounted_s, 50) / images_per_call if unaccounted_s else 0.0,
    )

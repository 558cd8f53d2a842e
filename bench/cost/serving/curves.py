"""The report's latency-vs-load curves: simulated series, measured points beside them, and how each was computed.

Shared by the measured servers' comparison (:mod:`.measured`) and the per-GPU curves (:mod:`.section`), and drawn
by :mod:`bench.report.serving_figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.cost.serving.estimate import Precision
from bench.cost.serving.point import Basis, LoadPoint

CURVE_PRECISION = Precision(target=0.05)  # the figures' simulated points: p99 within ±5% (95%)


@dataclass(frozen=True)
class MeasuredPoint:
    """One measured load point as the figures plot it (``p99_s`` NaN: not estimable, too few requests)."""

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
            text += f" ({short} short of their precision target: simulation budget reached)"
        parts.append(text)
    return "points: " + "; ".join(parts) if parts else "no points"


__all__ = ["CURVE_PRECISION", "Curve", "MeasuredPoint", "curve_basis"]

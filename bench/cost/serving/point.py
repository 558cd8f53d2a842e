"""One load point of the serving queue and how its figures were computed (exact, or simulated and how much).

Every latency figure the simulator reports carries its :class:`Basis`: the exact distribution of a queue that has
one (M/D/1, M/M/1, D/D/1), or the simulated requests and seeds behind it with the 95% sampling interval of its
p99, and any limit that cut the simulation short (the simulation budget, a simulated-time horizon). A reader of
a figure can then tell a closed-form answer from an estimate, and an estimate's precision from a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Method = Literal["M/D/1", "M/M/1", "D/D/1", "simulated"]
EXACT_NAMES: dict[str, str] = {
    "M/D/1": "exact M/D/1 (Erlang's waiting-time distribution)",
    "M/M/1": "exact M/M/1 (exponential response time)",
    "D/D/1": "exact D/D/1 (no request waits below saturation)",
}


@dataclass(frozen=True)
class Basis:
    """How a load point's figures were computed.

    ``requests`` are per seed, warm-up included; the first ``warmup`` of each seed are left out of every statistic
    (each run starts with an empty queue, which would bias the tail low). ``p99_rel_halfwidth`` is the 95%
    half-width of the p99's sampling interval over its value (0 for an exact answer or a deterministic run, None
    for a single run that did not estimate it). ``arrived`` is set when ``horizon_s`` cut the arrivals short.
    """

    method: Method
    requests: int = 0
    seeds: int = 0
    warmup: int = 0
    p99_rel_halfwidth: float | None = None
    target: float | None = None  # the p99 precision asked for (relative 95% half-width)
    budget: int | None = None  # the most simulated requests per load point, all seeds together
    horizon_s: float | None = None
    arrived: int | None = None  # the fewest requests of any seed that arrived within the horizon

    @property
    def exact(self) -> bool:
        return self.method != "simulated"

    @property
    def short_of_target(self) -> bool:
        """Whether the simulation stopped (budget or horizon) before its p99 reached the precision asked for."""
        rel = self.p99_rel_halfwidth
        return self.target is not None and rel is not None and not rel <= self.target

    def text(self) -> str:
        """One phrase for notes and reports: "exact M/D/1 (...)" or "simulated 40,000 requests x 10 seeds ..."."""
        if self.exact:
            return EXACT_NAMES[self.method]
        seeds = "1 seed" if self.seeds == 1 else f"{self.seeds} seeds"
        out = f"simulated {self.requests:,} requests x {seeds}"
        if self.warmup:
            out += f" (the first {self.warmup:,} of each left out)"
        rel = self.p99_rel_halfwidth
        if rel == 0:
            out += ", deterministic: no sampling error"
        elif rel is not None:
            out += f", p99 95% interval ±{_pct(rel)}"
        if self.short_of_target and self.target is not None:
            limit = f"the budget of {self.budget:,} simulated requests per load point" if self.budget else "a limit"
            out += f" (short of the ±{_pct(self.target)} target: {limit} reached)"
        if self.arrived is not None and self.horizon_s is not None:
            out += f"; cut by the {self.horizon_s:g} s simulated horizon: {self.arrived:,} of {self.requests:,} arrived"
        return out

    def short(self) -> str:
        """A table cell: "M/D/1", "±1.4%" (simulated, the p99's interval; "!": short of the target), "sim"."""
        if self.exact:
            return self.method
        rel = self.p99_rel_halfwidth
        if not rel:
            return "sim"  # deterministic, or one run that did not estimate its error
        mark = "!" if self.short_of_target or self.arrived is not None else ""
        return f"±{_pct(rel)}{mark}"


def _pct(x: float) -> str:
    if not math.isfinite(x):
        return "inf"
    return "<0.01%" if 0 < x < 1e-4 else f"{100 * x:.2g}%"  # a spread of rounding error, not of sampling


@dataclass(frozen=True)
class LoadPoint:
    """What one load point gives: latency percentiles, throughput and utilisation, and how they were computed.

    For an exact answer ``completed`` is 0 (nothing was simulated), ``max_s`` is ``inf`` where the distribution's
    tail is unbounded, and throughput and utilisation are the stationary ``rate`` and ``rho``.
    """

    offered_rate_per_s: float | None  # None for a closed loop
    concurrency: int | None
    replicas: int
    completed: int
    throughput_per_s: float
    p50_s: float
    p90_s: float
    p99_s: float
    max_s: float
    mean_s: float
    mean_wait_s: float
    p99_wait_s: float
    mean_batch: float
    utilisation: float  # busy replica-seconds / (replicas x span of the run)
    basis: Basis = Basis("simulated")
    p99_interval: tuple[float, float] | None = None  # 95% sampling interval; None: exact, or one run


__all__ = ["EXACT_NAMES", "Basis", "LoadPoint", "Method"]

"""Service time of one batch on one replica: seconds per call at batch size b, from isolated runs.

Every batch size 1..B the server may form needs a time. Where isolated runs measured (or the projection
estimated) that batch size, its figure is used as is; the others come from an affine fit ``t(b) = a + b * k``
over the known sizes (least squares; a weight-read and launch cost ``a`` paid once per call, and ``k`` per
image). With a single known size the fit has no slope to learn, so ``t(b) = b * t(b0) / b0`` is assumed: no
batching gain, the cautious choice. Each time says where it came from.

A time may carry its measured calls (``samples``): the simulator then draws from them, so the spread of real
calls reaches the tail percentiles. Without samples, service is deterministic at the median, or exponential
with that mean where ``shape`` says so (a what-if for a server whose calls vary that much, and the M/M/1 queue
the exact answers and the tests rely on).

Draws are made from uniforms (``u`` in [0, 1)), one per call in the order calls start, so the vectorised
queue and the event loop turn the same seeded uniforms into the same calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from bench.results import RunRecord

TimeSource = Literal["measured", "projected", "fitted"]
Bound = Literal["mid", "low", "high"]
Shape = Literal["fixed", "exponential"]


@dataclass(frozen=True)
class BatchTime:
    """Seconds per call at one batch size, with its interval where projected and its measured calls."""

    batch: int
    s_per_call: float
    source: TimeSource
    low_s: float | None = None
    high_s: float | None = None
    samples: tuple[float, ...] = ()

    def at(self, bound: Bound) -> float:
        """The median, or the low/high end of its interval (the median where there is none)."""
        if bound == "low" and self.low_s is not None:
            return self.low_s
        if bound == "high" and self.high_s is not None:
            return self.high_s
        return self.s_per_call


@dataclass(frozen=True)
class ServiceTimes:
    """Seconds per call for every batch size 1..``max_batch``, and how the missing ones were filled."""

    times: dict[int, BatchTime]
    fit_note: str = ""
    bound: Bound = "mid"
    shape: Shape = "fixed"  # calls without samples: always their time, or exponential with it as the mean
    _arrays: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.times or sorted(self.times) != list(range(1, max(self.times) + 1)):
            raise ValueError(f"service times must cover batch sizes 1..B, got {sorted(self.times)}")
        for b, t in self.times.items():
            if not (t.s_per_call > 0 and math.isfinite(t.s_per_call)):
                raise ValueError(f"service time at batch {b} must be a positive number, got {t.s_per_call}")
        for b, t in self.times.items():
            if t.samples:
                scale = t.at(self.bound) / t.s_per_call
                self._arrays[b] = np.asarray(t.samples, dtype=float) * scale

    @property
    def max_batch(self) -> int:
        return max(self.times)

    def seconds(self, batch: int) -> float:
        """Seconds per call at ``batch`` under this bound (median, low or high)."""
        return self.times[batch].at(self.bound)

    def draw(self, batch: int, u: float) -> float:
        """One call's seconds from a uniform ``u``: a measured call (scaled to the bound), exponential, or fixed."""
        samples = self._arrays.get(batch)
        if samples is not None:
            return float(samples[min(int(u * len(samples)), len(samples) - 1)])
        if self.shape == "exponential":
            return -self.seconds(batch) * math.log1p(-u)
        return self.seconds(batch)

    def draws(self, batch: int, u: np.ndarray) -> np.ndarray:
        """:meth:`draw` for an array of uniforms at once."""
        samples = self._arrays.get(batch)
        if samples is not None:
            return samples[np.minimum((u * len(samples)).astype(np.int64), len(samples) - 1)]
        if self.shape == "exponential":
            return -self.seconds(batch) * np.log1p(-u)
        return np.full(len(u), self.seconds(batch))

    def has_samples(self, batch: int) -> bool:
        """Whether calls at ``batch`` are drawn from measured ones."""
        return batch in self._arrays

    @property
    def random(self) -> bool:
        """Whether any call time is drawn (measured samples or exponential) rather than fixed."""
        return bool(self._arrays) or self.shape == "exponential"

    def capacity_per_s(self, replicas: int = 1, max_batch: int | None = None) -> float:
        """Requests per second the replicas finish when every call is the most productive batch allowed."""
        top = min(max_batch or self.max_batch, self.max_batch)
        return replicas * max(b / self.seconds(b) for b in range(1, top + 1))

    def light_load_s(self, q: float = 99.0) -> float:
        """The ``q``-th percentile of one request served alone (batch 1, no wait)."""
        samples = self._arrays.get(1)
        if samples is not None:
            return float(np.percentile(samples, q))
        if self.shape == "exponential":
            return -self.seconds(1) * math.log1p(-q / 100.0)
        return self.seconds(1)

    def with_bound(self, bound: Bound) -> ServiceTimes:
        """The same times at the low or high end of their intervals (to carry a projection's interval)."""
        return replace(self, bound=bound, _arrays={})

    def truncated(self, max_batch: int) -> ServiceTimes:
        """Only batch sizes 1..``max_batch``."""
        return replace(self, times={b: t for b, t in self.times.items() if b <= max_batch}, _arrays={})

    @property
    def has_interval(self) -> bool:
        return any(t.low_s is not None for t in self.times.values())


def fit_affine(points: Mapping[int, float]) -> tuple[float, float]:
    """Least-squares ``t(b) = a + b * k`` through (batch, seconds per call); one point gives ``a = 0``."""
    if not points:
        raise ValueError("no batch size to fit service times to")
    if len(points) == 1:
        ((b0, t0),) = points.items()
        return 0.0, t0 / b0
    bs = np.array(list(points), dtype=float)
    ts = np.array(list(points.values()), dtype=float)
    k, a = np.polyfit(bs, ts, 1)
    return float(a), float(k)


def fill_batches(known: Mapping[int, BatchTime], max_batch: int) -> ServiceTimes:
    """Every batch size 1..``max_batch``: the known ones as given, the others from the affine fit (stated).

    Low and high ends of the interval are fitted the same way when every known size carries one.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    if not known:
        raise ValueError("no batch size with a time to build service times from")
    missing = [b for b in range(1, max_batch + 1) if b not in known]
    if not missing:
        return ServiceTimes({b: known[b] for b in range(1, max_batch + 1)}, "every batch size known")
    mid = fit_affine({b: t.s_per_call for b, t in known.items()})
    with_band = all(t.low_s is not None and t.high_s is not None for t in known.values())
    low = fit_affine({b: t.low_s or 0.0 for b, t in known.items()}) if with_band else None
    high = fit_affine({b: t.high_s or 0.0 for b, t in known.items()}) if with_band else None
    floor = 0.05 * min(t.s_per_call / b for b, t in known.items())  # a fit never gives a call ~0 s

    def value(fit: tuple[float, float], b: int) -> float:
        return max(fit[0] + fit[1] * b, floor * b)

    times = dict(known)
    for b in missing:
        times[b] = BatchTime(
            batch=b,
            s_per_call=value(mid, b),
            source="fitted",
            low_s=value(low, b) if low else None,
            high_s=value(high, b) if high else None,
        )
    sizes = ", ".join(str(b) for b in sorted(known))
    how = (
        f"t(b) = {mid[0]:.4g} + b x {mid[1]:.4g} s fitted on batch {sizes}"
        if len(known) > 1
        else f"only batch {sizes} known: t(b) = b x {mid[1]:.4g} s assumed (no batching gain)"
    )
    fitted = ", ".join(str(b) for b in missing)
    return ServiceTimes({b: times[b] for b in range(1, max_batch + 1)}, f"batch {fitted} from {how}")


def known_from_records(records: Iterable[RunRecord]) -> dict[int, BatchTime]:
    """Measured seconds per call by images per call from ``ok`` isolated-run records of one workload.

    Several records of one batch size pool their calls; the time is the median of the pooled calls.
    """
    pooled: dict[int, list[float]] = {}
    for record in records:
        if not record.ok or record.summary is None:
            continue
        b = record.spec.images_per_call
        calls = list(record.timing.call_s) if record.timing and record.timing.call_s else []
        pooled.setdefault(b, []).extend(calls or [record.summary.median_s_per_image * b])
    return {
        b: BatchTime(batch=b, s_per_call=float(np.median(calls)), source="measured", samples=tuple(calls))
        for b, calls in pooled.items()
    }


def service_from_records(records: Iterable[RunRecord], max_batch: int) -> ServiceTimes:
    """Service times 1..``max_batch`` from measured records (missing sizes fitted, as the note says)."""
    return fill_batches(known_from_records(records), max_batch)


__all__ = [
    "BatchTime",
    "Bound",
    "ServiceTimes",
    "Shape",
    "TimeSource",
    "fill_batches",
    "fit_affine",
    "known_from_records",
    "service_from_records",
]

"""A background thread that polls samplers at a fixed interval and answers questions about the series.

Timestamps are seconds since :meth:`SamplerThread.start` on ``time.perf_counter``; the runner stamps stage spans
with :meth:`SamplerThread.now_s`, so spans and samples share one clock.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from bench.measure.samplers.base import DEFAULT_INTERVAL_S, DeviceSampler


def interpolate(t_s: Sequence[float], values: Sequence[float], at_s: float) -> float:
    """Linear interpolation in a sorted series; outside it, the nearest end value."""
    if at_s <= t_s[0]:
        return values[0]
    if at_s >= t_s[-1]:
        return values[-1]
    i = bisect.bisect_right(t_s, at_s)  # t_s[i - 1] <= at_s < t_s[i]
    t_a, t_b = t_s[i - 1], t_s[i]
    return values[i - 1] + (values[i] - values[i - 1]) * (at_s - t_a) / (t_b - t_a)


def trapezoid(t_s: Sequence[float], values: Sequence[float], start_s: float, end_s: float) -> float:
    """Integral over ``[start_s, end_s]`` by the trapezoid rule on the samples, with interpolated end points."""
    points = [(start_s, interpolate(t_s, values, start_s))]
    points += [(t, v) for t, v in zip(t_s, values, strict=True) if start_s < t < end_s]
    points.append((end_s, interpolate(t_s, values, end_s)))
    return sum((t_b - t_a) * (v_a + v_b) / 2 for (t_a, v_a), (t_b, v_b) in itertools.pairwise(points))


class SamplerThread:
    """Polls every sampler each ``interval_s`` into one table: ``t_s`` plus a column per field.

    Sampling keeps to a fixed schedule (``t0 + k * interval_s``) and skips ticks it fell behind on, so a slow
    reading does not shift later ones. A sampler that raises gets ``None`` for that reading and one warning.
    """

    def __init__(
        self,
        samplers: Sequence[DeviceSampler],
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Check the samplers' fields do not collide; nothing runs until :meth:`start`."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        fields = [f for s in samplers for f in s.fields]
        if len(set(fields)) != len(fields):
            raise ValueError(f"samplers share field names: {sorted(f for f in set(fields) if fields.count(f) > 1)}")
        self.samplers = list(samplers)
        self.interval_s = interval_s
        self.t0: float | None = None
        self.t_s: list[float] = []
        self.series: dict[str, list[float | None]] = {f: [] for f in fields}
        self._clock = clock
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._failed: dict[str, str] = {}

    def start(self) -> None:
        """Set the clock's zero, take the first sample now, then sample in the background."""
        if self.t0 is not None:
            raise RuntimeError("SamplerThread.start() called twice")
        self.t0 = self._clock()
        self.sample()
        self._thread = threading.Thread(target=self._loop, args=(self.t0,), name="kbench-sampler", daemon=True)
        self._thread.start()

    def now_s(self) -> float:
        """Seconds since :meth:`start` on the sampling clock."""
        if self.t0 is None:
            raise RuntimeError("SamplerThread not started")
        return self._clock() - self.t0

    def sample(self) -> None:
        """Take one sample now (also usable at a stage boundary for an exact reading there)."""
        with self._lock:
            t_s = self.now_s()
            row: dict[str, float | None] = {}
            for sampler in self.samplers:
                try:
                    reading = sampler.read()
                except Exception as exc:  # a sampler bug must not kill the measurement
                    self._failed.setdefault(sampler.name, f"{type(exc).__name__}: {exc}")
                    reading = {}
                row.update((f, reading.get(f)) for f in sampler.fields)
            self.t_s.append(t_s)
            for field, column in self.series.items():
                column.append(row[field])

    def _loop(self, t0: float) -> None:
        k = 1
        while True:
            delay_s = t0 + k * self.interval_s - self._clock()
            if delay_s < 0:  # fell behind: resume at the next tick still ahead
                k += int(-delay_s // self.interval_s) + 1
                continue
            if self._stop_event.wait(delay_s):
                return
            self.sample()
            k += 1

    def stop(self) -> None:
        """Stop sampling, take a final sample and close the samplers. Safe to call again, or before start."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
        if self.t0 is not None:
            self.sample()
        for sampler in self.samplers:
            try:
                sampler.close()
            except Exception as exc:
                self._failed.setdefault(sampler.name, f"close failed: {type(exc).__name__}: {exc}")

    def __enter__(self) -> SamplerThread:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def warnings(self) -> list[str]:
        """Failed samplers, plus what the samplers themselves report (shared GPU, throttling)."""
        out = [f"sampler {name} failed ({why}); its readings are missing" for name, why in self._failed.items()]
        for sampler in self.samplers:
            out.extend(getattr(sampler, "warnings", ()))
        return out

    def _points(self, field: str) -> tuple[list[float], list[float]]:
        with self._lock:
            pairs = [(t, v) for t, v in zip(self.t_s, self.series.get(field, ()), strict=False) if v is not None]
        return [t for t, _ in pairs], [v for _, v in pairs]

    def peak(self, field: str) -> float | None:
        """Largest reading of ``field``; ``None`` when never read (unknown or unsupported field)."""
        _, values = self._points(field)
        return max(values) if values else None

    def value_at(self, field: str, t_s: float) -> float | None:
        """``field`` at ``t_s``, interpolated linearly between samples (nearest end value outside them)."""
        times, values = self._points(field)
        return interpolate(times, values, t_s) if times else None

    def mean_between(self, field: str, start_s: float, end_s: float) -> float | None:
        """Time-weighted mean of ``field`` over ``[start_s, end_s]`` (trapezoid rule)."""
        _check_window(start_s, end_s)
        times, values = self._points(field)
        if not times:
            return None
        if end_s == start_s:
            return interpolate(times, values, start_s)
        return trapezoid(times, values, start_s, end_s) / (end_s - start_s)

    def energy_between(self, start_s: float, end_s: float) -> tuple[float | None, str | None]:
        """Joules used by the GPU over ``[start_s, end_s]`` and how they were obtained.

        ``"counter"``: difference of the NVML energy counter (millijoules since the driver loaded), interpolated
        at the bounds. ``"power_integral"``: trapezoid integral of the power readings (milliwatts), for GPUs
        without the counter or when the counter went backwards in the window (a wrap or a driver reload).
        ``(None, None)`` without either.
        """
        _check_window(start_s, end_s)
        times, values = self._points("energy_j")
        inside = [v for t, v in zip(times, values, strict=True) if start_s <= t <= end_s]
        if times and all(b >= a for a, b in itertools.pairwise(inside)):
            return interpolate(times, values, end_s) - interpolate(times, values, start_s), "counter"
        times, values = self._points("power_w")
        if times:
            return trapezoid(times, values, start_s, end_s), "power_integral"
        return None, None


def _check_window(start_s: float, end_s: float) -> None:
    if end_s < start_s:
        raise ValueError(f"window ends before it starts: [{start_s}, {end_s}]")

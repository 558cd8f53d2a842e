"""Change points in a timing series: steps, not single points, with a minimum effect size.

The series (one median per commit, in time order) is taken on a log scale, so a step is a ratio whatever the
run's size. Its noise is measured from the series itself: the median absolute deviation of successive
differences, which a few steps barely move (a difference of two noisy points has twice the variance).
PELT (Killick, Fearnhead & Eckley, *Optimal detection of changepoints with a linear computational cost*,
JASA 2012; ``ruptures``) then segments it under an L1 cost (absolute deviations from each segment's median,
so one bad job barely pays for a split; an L2 cost split a lone 60% spike off in 62% of seeded series) with a
penalty ``c·σ·ln n``, and adjacent segments that differ by less than the minimum effect, or by fewer than
:data:`Z_MIN` standard errors, are merged, weakest first (asv's ``step_detect`` keeps the same two conditions:
significant against the noise and larger than a factor). A segment needs ``min_size`` points. On 300 seeded
40-point series with 5% lognormal noise: no false step, a +20% step found at its place in 98%, a +30% step
in the last two points in 90%, a lone +60% spike taken for a step in 0.3%. A step is *found* with
``min_size`` points a side, but *judged* (a verdict that can fail a job) only with at least
:func:`~bench.compare.stats.min_samples_for` points on each side of it (4 at 95%, the exact rank-test bound):
the points, one per commit, are the observations the step is measured from. Pure; no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.compare.engine import RunComparison
from bench.compare.stats import CONFIDENCE, SampleSize

DEFAULT_MIN_EFFECT = 0.05
DEFAULT_MIN_SIZE = 2
PENALTY_SCALE = 1.75  # c in c·σ·ln n (L1 cost): tuned on seeded series, see the module docstring
Z_MIN = 3.0  # standard errors between adjacent segment levels
SIGMA_FLOOR = 1e-4  # log units: a noiseless series still gets a finite penalty
METHOD = "PELT, L1 cost on log time"


@dataclass(frozen=True)
class Segment:
    """Points ``[start, end)`` of a series sharing one level; ``median_s`` is the median of their medians."""

    start: int
    end: int
    median_s: float


def robust_sigma(log_values: np.ndarray) -> float:
    """Noise of a log series from its successive differences (MAD scaled to a normal σ, divided by √2)."""
    if log_values.size < 3:
        return SIGMA_FLOOR
    d = np.diff(log_values)
    mad = float(np.median(np.abs(d - np.median(d))))
    return max(1.4826 * mad / math.sqrt(2.0), SIGMA_FLOOR)


def _segments(values: np.ndarray, starts: Sequence[int]) -> list[Segment]:
    edges = [0, *starts, values.size]
    return [Segment(a, b, float(np.median(values[a:b]))) for a, b in itertools.pairwise(edges) if b > a]


def _merge_small(values: np.ndarray, segments: list[Segment], min_effect: float, sigma: float) -> list[Segment]:
    """Merge adjacent segments, weakest first, until each pair differs by ≥ min_effect and ≥ Z_MIN standard errors.

    The standard error of a difference of two segment levels is ``σ·√(1/n1 + 1/n2)`` (log units), so a short
    run of high points next to a long segment must differ more than two long segments do.
    """
    while len(segments) > 1:
        gaps = [abs(math.log(b.median_s / a.median_s)) for a, b in itertools.pairwise(segments)]
        z = [
            g / (sigma * math.sqrt(1 / (a.end - a.start) + 1 / (b.end - b.start)))
            for g, (a, b) in zip(gaps, itertools.pairwise(segments), strict=True)
        ]
        weak = [i for i, g in enumerate(gaps) if g < math.log1p(min_effect) or z[i] < Z_MIN]
        if not weak:
            break
        i = min(weak, key=lambda j: z[j])
        a, b = segments[i], segments[i + 1]
        segments[i : i + 2] = [Segment(a.start, b.end, float(np.median(values[a.start : b.end])))]
    return segments


def detect_segments(
    values_s: Sequence[float],
    *,
    min_effect: float = DEFAULT_MIN_EFFECT,
    min_size: int = DEFAULT_MIN_SIZE,
    penalty_scale: float = PENALTY_SCALE,
) -> tuple[list[Segment], float]:
    """Segments of a positive series and the noise σ (log units) the penalty was set from.

    Args:
        values_s: Seconds per image, one per point, in time order (all > 0).
        min_effect: Smallest relative difference between adjacent segments that counts as a step.
        min_size: Fewest points in a segment.
        penalty_scale: ``c`` in the penalty ``c·σ·ln n``.
    """
    import ruptures as rpt

    values = np.asarray(values_s, dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("detect_segments needs positive, finite values")
    logs = np.log(values)
    sigma = robust_sigma(logs)
    if values.size < 2 * min_size:
        return [Segment(0, values.size, float(np.median(values)))], sigma
    penalty = penalty_scale * sigma * math.log(values.size)
    ends = rpt.Pelt(model="l1", min_size=min_size, jump=1).fit(logs.reshape(-1, 1)).predict(pen=penalty)
    starts = [int(e) for e in ends[:-1]]
    return _merge_small(values, _segments(values, starts), min_effect, sigma), sigma


@dataclass(frozen=True)
class Point:
    """One commit (or one undated record) of a series: its records pooled."""

    time: str
    commit: str | None
    median_s: float
    n_samples: int
    record_ids: tuple[int, ...]  # indices into the records given to the history


@dataclass(frozen=True)
class Step:
    """A change between two adjacent segments, at the first point of the later one."""

    index: int
    commit: str | None
    time: str
    before_s: float
    after_s: float

    @property
    def change(self) -> float:
        return self.after_s / self.before_s - 1.0


@dataclass(frozen=True)
class SeriesResult:
    """One run key's history: points, segments, steps, and the newest point against a rolling baseline."""

    run_key: str
    points: tuple[Point, ...]
    segments: tuple[Segment, ...]
    sigma: float
    rolling: RunComparison | None = None
    confidence: float = CONFIDENCE

    @property
    def steps(self) -> tuple[Step, ...]:
        out = []
        for a, b in zip(self.segments, self.segments[1:], strict=False):
            p = self.points[b.start]
            out.append(Step(b.start, p.commit, p.time, a.median_s, b.median_s))
        return tuple(out)

    @property
    def newest_change(self) -> str | None:
        """``slower`` or ``faster`` when the newest segment differs from the one before it (judged or not)."""
        if len(self.segments) < 2 or self.segments[-1].median_s == self.segments[-2].median_s:
            return None
        return "slower" if self.segments[-1].median_s > self.segments[-2].median_s else "faster"

    @property
    def newest_step_size(self) -> SampleSize | None:
        """Points before and after the newest step (None without a step)."""
        if len(self.segments) < 2:
            return None
        before, after = self.segments[-2], self.segments[-1]
        return SampleSize(before.end - before.start, after.end - after.start, "points")

    @property
    def step_not_judged(self) -> str | None:
        """The "not judged" note of a newest step found on too few points to carry a verdict, else None."""
        size = self.newest_step_size
        if size is None or size.judged(self.confidence):
            return None
        return size.note(self.confidence)

    @property
    def new_regression(self) -> bool:
        """The newest segment is slower than the one before it, with enough points on both sides to say so."""
        return self.newest_change == "slower" and self.step_not_judged is None

    @property
    def new_improvement(self) -> bool:
        return self.newest_change == "faster" and self.step_not_judged is None


@dataclass(frozen=True)
class HistoryReport:
    """Every series of the history, with the settings the steps were found under."""

    series: tuple[SeriesResult, ...]
    min_effect: float
    method: str = METHOD
    baseline_last: int | None = None

    @property
    def has_regression(self) -> bool:
        """A newest segment slower than the one before, or a newest point slower than its rolling baseline."""
        return any(s.new_regression or (s.rolling is not None and s.rolling.is_regression) for s in self.series)

    def not_judged(self, *, steps: bool = True, rolling: bool = True) -> tuple[str, ...]:
        """Run keys whose newest step (``steps``) or rolling comparison (``rolling``) had too few observations."""
        keys = [s.run_key for s in self.series if steps and s.step_not_judged is not None]
        keys += [s.run_key for s in self.series if rolling and s.rolling is not None and s.rolling.too_few_samples]
        return tuple(dict.fromkeys(keys))


__all__ = [
    "DEFAULT_MIN_EFFECT",
    "DEFAULT_MIN_SIZE",
    "METHOD",
    "HistoryReport",
    "Point",
    "Segment",
    "SeriesResult",
    "Step",
    "detect_segments",
    "robust_sigma",
]

"""Records -> one time-ordered series per run key -> steps and a rolling baseline.

Records of one run key are grouped by the commit that produced them (``git_commit`` of the record's
environment, else kbench's own commit), so the processes that measured one commit are pooled into one point;
a record without a commit is a point of its own. Points are ordered by their earliest start time. The newest
point can also be compared, with the grouped statistics of ``kbench compare``, against the pooled records of
the ``N`` points before it (``--baseline last:N``): a rolling baseline in place of a single stored one, which
one outlier cannot poison for long. Those statistics count processes when a side pools several, so the
comparison is judged only with at least :func:`~bench.compare.stats.min_samples_for` processes a side (a newest
commit measured by one process is "not judged": nothing in one process tells its code from its machine's
load). The series compared are one family, as the runs of one ``compare`` job are: each at the Bonferroni level
of their number, so a history of unchanged code fails on them at most ``(1 - confidence) / 2`` of the time.
Pure; no I/O.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from bench.compare.engine import NothingToCompare, compare_records
from bench.compare.thresholds import DEFAULT_THRESHOLDS, ThresholdSet
from bench.errors import KbenchError
from bench.history.steps import (
    DEFAULT_MIN_EFFECT,
    DEFAULT_MIN_SIZE,
    HistoryReport,
    Point,
    SeriesResult,
    detect_segments,
)
from bench.results import RunRecord

_BASELINE_RE = re.compile(r"^last:(\d+)$")


class HistoryError(KbenchError):
    """A history input that cannot be used (no usable records, a bad option)."""


def parse_baseline(text: str | None) -> int | None:
    """``last:N`` -> N (N >= 1); None for no rolling baseline."""
    if text is None:
        return None
    m = _BASELINE_RE.match(text.strip())
    if not m or int(m.group(1)) < 1:
        raise HistoryError(f"--baseline: {text!r} is not allowed; use last:N with N >= 1, e.g. last:5")
    return int(m.group(1))


def record_commit(record: RunRecord) -> str | None:
    """The commit a record measured: the repository's, else kbench's own (a checkout measuring itself)."""
    for key in ("git_commit", "kbench_git_commit"):
        value = record.env.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _samples(record: RunRecord) -> list[float]:
    if record.timing is not None and record.timing.per_image_s:
        return [s for s in record.timing.per_image_s if s > 0]
    return [record.summary.median_s_per_image] if record.summary is not None else []


def build_points(records: Sequence[RunRecord], indices: Sequence[int]) -> list[Point]:
    """The points of one run key: its ok records grouped by commit, ordered by earliest start."""
    groups: dict[str, list[int]] = {}
    for i in indices:
        commit = record_commit(records[i])
        groups.setdefault(commit or f"record-{i}", []).append(i)
    points = []
    for ids in groups.values():
        samples = [s for i in ids for s in _samples(records[i])]
        if not samples:
            continue
        first = min(ids, key=lambda i: records[i].started_at)
        points.append(
            Point(
                time=records[first].started_at,
                commit=record_commit(records[first]),
                median_s=statistics.median(samples),
                n_samples=len(samples),
                record_ids=tuple(ids),
            )
        )
    return sorted(points, key=lambda p: (p.time, p.commit or ""))


def build_history(
    records: Sequence[RunRecord],
    *,
    min_effect: float = DEFAULT_MIN_EFFECT,
    min_size: int = DEFAULT_MIN_SIZE,
    baseline_last: int | None = None,
    thresholds: ThresholdSet = DEFAULT_THRESHOLDS,
) -> HistoryReport:
    """Series, steps and (with ``baseline_last``) the newest point against the points before it.

    Raises:
        HistoryError: no ok record with timings.
    """
    by_key: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r.ok:
            by_key.setdefault(r.run_key, []).append(i)
    points_by_key = {key: build_points(records, indices) for key, indices in by_key.items()}
    family = sum(1 for points in points_by_key.values() if len(points) > 1)
    series = []
    for key, points in points_by_key.items():
        if not points:
            continue
        segments, sigma = detect_segments([p.median_s for p in points], min_effect=min_effect, min_size=min_size)
        rolling = None
        if baseline_last is not None and len(points) > 1:
            before = points[-1 - baseline_last : -1]
            base = [records[i] for p in before for i in p.record_ids]
            cur = [records[i] for i in points[-1].record_ids]
            try:
                rolling = compare_records(base, cur, thresholds, allow_env_mismatch=True, family=family).runs[0]
            except NothingToCompare:
                rolling = None
        series.append(SeriesResult(key, tuple(points), tuple(segments), sigma, rolling))
    if not series:
        raise HistoryError("no ok record with timings in the results given; nothing to follow")
    return HistoryReport(
        series=tuple(sorted(series, key=lambda s: s.run_key)), min_effect=min_effect, baseline_last=baseline_last
    )


__all__ = ["HistoryError", "build_history", "build_points", "parse_baseline", "record_commit"]

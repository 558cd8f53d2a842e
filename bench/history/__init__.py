"""``kbench history``: results over time, one series per run key, with steps found by change-point detection.

:mod:`~bench.history.steps` finds segments in one series (PELT on log time, a penalty from the series'
measured noise, a minimum effect size); :mod:`~bench.history.series` builds the series from records (time
and commit order, one point per commit) and compares the newest point with a rolling baseline. Plotting
and markdown live in :mod:`bench.report`.
"""

from bench.history.series import HistoryError, build_history, parse_baseline, record_commit
from bench.history.steps import HistoryReport, Point, Segment, SeriesResult, Step, detect_segments

__all__ = [
    "HistoryError",
    "HistoryReport",
    "Point",
    "Segment",
    "SeriesResult",
    "Step",
    "build_history",
    "detect_segments",
    "parse_baseline",
    "record_commit",
]

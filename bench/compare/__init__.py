"""Statistical regression comparison of two sets of benchmark results (``kbench compare``).

Modules by job: :mod:`~bench.compare.stats` (sample statistics), :mod:`~bench.compare.pairing` (pooling and
pairing records), :mod:`~bench.compare.engine` (the report model and :func:`compare_records`),
:mod:`~bench.compare.calibration` (false alarms and detectable slowdowns on synthetic samples),
:mod:`~bench.compare.thresholds` (parsed rules) and :mod:`~bench.compare.baseline` (the baseline file kept in
the repository). Rendering a report lives in :mod:`bench.report.compare_render`; nothing here imports the
report layer.
"""

from __future__ import annotations

from bench.compare.engine import CompareReport, EnvironmentMismatch, NothingToCompare, RunComparison, compare_records
from bench.compare.stats import TimeComparison, ValueComparison, compare_samples

__all__ = [
    "CompareReport",
    "EnvironmentMismatch",
    "NothingToCompare",
    "RunComparison",
    "TimeComparison",
    "ValueComparison",
    "compare_records",
    "compare_samples",
]

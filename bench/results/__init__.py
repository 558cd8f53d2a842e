"""Run results: the versioned record schema (``schema``) and the append-only JSONL store (``store``).

Depends only on :mod:`bench.spec`, :mod:`bench.errors` and :mod:`bench.files` (leaves), so readers of results
never load scenario parsing.
"""

from bench.results.checks import record_problem
from bench.results.lock import ResultsLock
from bench.results.schema import (
    FAILED_STATUSES,
    RETRIED_STATUSES,
    SCHEMA_VERSION,
    STAGES,
    EnergyStats,
    ErrorInfo,
    MemoryStats,
    RunRecord,
    StageSpan,
    Status,
    Summary,
    Timeline,
    Timing,
    dump_record,
    utc_now_iso,
)
from bench.results.store import append_record, completed_keys, iter_results, read_results

__all__ = [
    "FAILED_STATUSES",
    "RETRIED_STATUSES",
    "SCHEMA_VERSION",
    "STAGES",
    "EnergyStats",
    "ErrorInfo",
    "MemoryStats",
    "ResultsLock",
    "RunRecord",
    "StageSpan",
    "Status",
    "Summary",
    "Timeline",
    "Timing",
    "append_record",
    "completed_keys",
    "dump_record",
    "iter_results",
    "read_results",
    "record_problem",
    "utc_now_iso",
]

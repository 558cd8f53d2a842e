"""How a run that raised is classified and described in its record (``oom`` or ``error``, a short traceback)."""

from __future__ import annotations

import traceback

from bench.results import ErrorInfo

OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory", "std::bad_alloc")
TRACEBACK_LINES = 12


def classify_exception(exc: BaseException) -> str:
    """``oom`` for device or host out-of-memory (however the allocator reports it), else ``error``."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "oom"
    text = str(exc).lower()
    return "oom" if any(marker in text for marker in OOM_MARKERS) else "error"


def error_info(exc: BaseException) -> ErrorInfo:
    tail = traceback.format_exception(exc)
    lines = "".join(tail).rstrip().splitlines()[-TRACEBACK_LINES:]
    return ErrorInfo(type=type(exc).__name__, message=str(exc).strip()[:2000], traceback_tail=lines)

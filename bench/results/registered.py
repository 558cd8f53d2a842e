"""Whether a record stands for its registered full-size model, and the words for when it does not.

A record that carries what it built (``architecture``) stands for the registered model only when that
matches; an older record without it keeps the rule by weight source (``tiny`` never does). Projection,
calibration, the report's guide tables and ``recommend --results`` all ask here, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.results.schema import RunRecord

MAX_DIFFERENCES_SHOWN = 3


def stands_for_registered(record: RunRecord) -> bool:
    """True when the record measured the registered architecture of its model (by what it built, else by weights)."""
    if record.architecture is None:
        return record.spec.weights != "tiny"
    return record.architecture.matches


def built_differs(record: RunRecord) -> bool:
    """True when the record carries what it built and that is not its registered model."""
    return record.architecture is not None and not record.architecture.matches


def not_projected_label(record: RunRecord) -> str:
    """``architecture differs from <model>: not projected`` for a record that built another architecture, else ''."""
    arch = record.architecture
    if arch is None or arch.matches:
        return ""
    return f"architecture differs from {arch.registered}: not projected"


def differences_text(record: RunRecord, limit: int = MAX_DIFFERENCES_SHOWN) -> str:
    """The first ``limit`` differences of a record's architecture from its registered model, on one line."""
    if record.architecture is None:
        return ""
    diffs = record.architecture.differences
    more = f"; {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


def not_used_reasons(records: Iterable[RunRecord], model: str) -> list[str]:
    """Why each ok record of ``model`` is not used to measure or calibrate it (one line per record)."""
    out: list[str] = []
    for record in records:
        if not record.ok or record.spec.model != model or stands_for_registered(record):
            continue
        if built_differs(record):
            why = f"{not_projected_label(record)} ({differences_text(record)})"
        else:
            why = "tiny weights: not the real model"
        out.append(f"not used: {record.run_key}: {why}")
    return out


__all__ = ["built_differs", "differences_text", "not_projected_label", "not_used_reasons", "stands_for_registered"]

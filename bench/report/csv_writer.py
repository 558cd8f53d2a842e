"""The summary table as CSV: raw numbers (no units, no rounding), one row per run."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from bench.report.rows import SUMMARY_COLUMNS, SummaryRow

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters a spreadsheet would evaluate as a formula (OWASP "CSV injection")."""


def _cell(value: object) -> object:
    """Neutralise text a spreadsheet would run as a formula; numbers and None pass through."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return "" if value is None else value


def render_csv(rows: Sequence[SummaryRow]) -> str:
    """One header line of :data:`SUMMARY_COLUMNS`, then one line per run (``\\r\\n`` endings, per RFC 4180)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(SUMMARY_COLUMNS)
    for row in rows:
        data = row.as_dict()
        writer.writerow([_cell(data[name]) for name in SUMMARY_COLUMNS])
    return buf.getvalue()


__all__ = ["render_csv"]

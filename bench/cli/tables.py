"""Terminal and markdown tables for the commands, with long texts (source URLs) as numbered footnotes.

A terminal table fits :data:`TERMINAL_WIDTH` columns: URLs never sit in a cell (a :class:`Footnotes` number
does); a table still too wide is set with single spaces between columns, then the columns named as
shrinkable are cut, longest first, with an ellipsis. Markdown tables are never cut.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report.format import markdown_table
from bench.text import printable

TERMINAL_WIDTH = 120
MIN_SHRUNK = 10
GAP = "  "


@dataclass
class TableWidth:
    """``--wide`` (set once by the root command): tables and notes take the lines they need, never cut."""

    wide: bool = False


TABLE_WIDTH = TableWidth()


def terminal_width() -> int | None:
    """Columns a table may take: the terminal's (or ``COLUMNS``), 120 when output is not a terminal, None under --wide.

    A pipe or a CI log has no width of its own; 120 keeps tables readable there without probing anything.
    """
    if TABLE_WIDTH.wide:
        return None
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return max(shutil.get_terminal_size((TERMINAL_WIDTH, 24)).columns, 60)
    return TERMINAL_WIDTH


class Footnotes:
    """Numbered notes under a table: the same text always gets the same number."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def ref(self, text: str | None) -> str:
        """``[n]`` for ``text`` (added on first use), or ``-`` for no text."""
        if not text:
            return "-"
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"

    def lines(self) -> list[str]:
        return [f"[{i}] {text}" for i, text in enumerate(self.items, start=1)]


def _numeric(cell: str) -> bool:
    return cell[:1].isdigit() or (cell[:1] in "$-.+~=" and cell[1:2].isdigit())


def _cut(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(width - 1, 1)] + "…"


def format_table(
    headers: list[str],
    rows: list[list[str]],
    *,
    width: int | None = None,
    shrink: Sequence[int] = (),
    optional: Sequence[int] = (),
) -> str:
    """Plain-text table with right-aligned numbers; no terminal probing, so it pipes cleanly.

    Fitting ``width`` goes in steps that keep what tells rows apart: single spaces between columns, then the
    ``optional`` columns left out in the order given (their facts sit in footnotes or notes; a last line names
    them), then the ``shrink`` columns cut, longest first, with an ellipsis.

    Args:
        headers: column titles.
        rows: string cells, one list per row.
        width: the most columns a line may take; ``None``: no limit.
        shrink: indices of the columns that may be cut to fit ``width``.
        optional: indices of the columns that may be left out to fit ``width``, first to go first.
    """
    rows = [[printable(c) for c in r] for r in rows]  # cells quote files: escape sequences shown, not obeyed
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    keep = list(range(len(headers)))
    gap = GAP

    def total() -> int:
        return sum(widths[i] for i in keep) + len(gap) * (len(keep) - 1)

    dropped: list[str] = []
    if width is not None:
        if total() > width:
            gap = " "  # first give up the double spaces, then the optional columns, then cut shrinkable ones
        for i in optional:
            if total() <= width:
                break
            keep.remove(i)
            dropped.append(headers[i])
        over = total() - width
        while over > 0:
            candidates = [i for i in shrink if i in keep and widths[i] > MIN_SHRUNK]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            step = min(over, widths[widest] - MIN_SHRUNK)
            widths[widest] -= step
            over -= step

    def line(cells: list[str]) -> str:
        out = []
        for i in keep:
            cell = _cut(cells[i], widths[i])
            out.append(cell.rjust(widths[i]) if _numeric(cell) else cell.ljust(widths[i]))
        return gap.join(out).rstrip()

    text = [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    if dropped:
        note = f"(left out to fit {width} columns: {', '.join(dropped)}; kbench --wide shows them)"
        text += textwrap.wrap(note, width or len(note), break_on_hyphens=False)
    return "\n".join(text)


def wrap_notes(lines: Sequence[str], width: int | None = None) -> list[str]:
    """Notes wrapped to ``width`` columns (default: :func:`terminal_width`), URLs kept whole, continuation lines
    indented; each note once, however many rows gave it."""
    width = width or terminal_width() or 10**6
    out: list[str] = []
    lines = list(dict.fromkeys(lines))
    for line in map(printable, lines):
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        out += textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False) or [
            ""
        ]
    return out


def markdown(headers: list[str], rows: list[list[str]], notes: Sequence[str] = ()) -> str:
    """A GitHub markdown table with its footnotes as a list below it."""
    out = [markdown_table(headers, rows)]
    if notes:
        out += ["", *(f"- {n}" for n in notes)]
    return "\n".join(out) + "\n"


__all__ = ["TABLE_WIDTH", "TERMINAL_WIDTH", "Footnotes", "format_table", "markdown", "terminal_width", "wrap_notes"]

"""Terminal and markdown tables for the commands, with long texts (source URLs) as numbered footnotes.

A terminal table fits :data:`TERMINAL_WIDTH` columns: URLs never sit in a cell (a :class:`Footnotes` number
does); a table still too wide is set with single spaces between columns, then the columns named as
shrinkable are cut, longest first, with an ellipsis. Markdown tables are never cut.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from bench.report.format import markdown_table
from bench.text import printable

TERMINAL_WIDTH = 120
MIN_SHRUNK = 10
GAP = "  "


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
    headers: list[str], rows: list[list[str]], *, width: int | None = None, shrink: Sequence[int] = ()
) -> str:
    """Plain-text table with right-aligned numbers; no terminal probing, so it pipes cleanly.

    Args:
        headers: column titles.
        rows: string cells, one list per row.
        width: the most columns a line may take; ``None``: no limit.
        shrink: indices of the columns that may be cut to fit ``width``.
    """
    rows = [[printable(c) for c in r] for r in rows]  # cells quote files: escape sequences shown, not obeyed
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    gap = GAP
    if width is not None:
        if sum(widths) + len(GAP) * (len(widths) - 1) > width:
            gap = " "  # first give up the double spaces, then cut the shrinkable columns
        over = sum(widths) + len(gap) * (len(widths) - 1) - width
        while over > 0:
            candidates = [i for i in shrink if widths[i] > MIN_SHRUNK]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: widths[i])
            step = min(over, widths[widest] - MIN_SHRUNK)
            widths[widest] -= step
            over -= step

    def line(cells: list[str]) -> str:
        out = []
        for cell, w in zip(cells, widths, strict=True):
            cell = _cut(cell, w)
            out.append(cell.rjust(w) if _numeric(cell) else cell.ljust(w))
        return gap.join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def wrap_notes(lines: Sequence[str], width: int = TERMINAL_WIDTH) -> list[str]:
    """Notes wrapped to ``width`` columns for the terminal, URLs kept whole, continuation lines indented."""
    out: list[str] = []
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


__all__ = ["TERMINAL_WIDTH", "Footnotes", "format_table", "markdown", "wrap_notes"]

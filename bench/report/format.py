"""Text formatting shared by every renderer: numbers, markdown escaping and the one markdown table builder.

A leaf module (standard library only), so the report, cost and compare renderers can all use it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

_MD_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "|": "\\|",
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "#": "\\#",
        "\n": " ",
        "\r": " ",
    }
)
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def fmt_num(value: float | None, sig: int = 3) -> str:
    """Human formatting shared by the HTML and markdown renderers: ``sig`` significant digits, no exponent."""
    if value is None:
        return "—"
    if value != value:  # NaN
        return "—"
    if abs(value) >= 10**sig:
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    text = f"{value:.{sig}g}"
    if "e" not in text:
        return text
    if abs(value) >= 1:  # rounding reached 10**sig, e.g. 999.9 -> "1e+03"
        return f"{value:,.0f}"
    decimals = sig - 1 - math.floor(math.log10(abs(value)))  # very small: no scientific notation
    return f"{value:.{decimals}f}"


def md_escape(text: object) -> str:
    """Escape markdown and HTML syntax so user text renders literally inside a table cell."""
    return str(text).translate(_MD_ESCAPES)


def md_cell(text: object) -> str:
    """Make a cell safe for a table row: line breaks become spaces, pipes not already escaped get a backslash.

    Only what would break the table's structure is touched, so deliberate markup (``**bold**``, ``<br>``) and
    text already passed through :func:`md_escape` survive unchanged.
    """
    return _UNESCAPED_PIPE.sub(r"\\|", _LINE_BREAK.sub(" ", str(text)))


def markdown_table(headers: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub markdown table (no trailing newline); every cell goes through :func:`md_cell`.

    Rows shorter or longer than ``headers`` are written as given: GitHub pads short rows and drops extras.
    """
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


__all__ = ["fmt_num", "markdown_table", "md_cell", "md_escape"]

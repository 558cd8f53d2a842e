"""Text from files made safe to print on a terminal.

A results file, a file name or a record's free text (a GPU name, an error message) can hold terminal escape
sequences: ``\\x1b[2J`` clears the screen, ``\\x1b]0;...\\x07`` sets the window title, and others rewrite what
was printed before them. Whatever a command prints that came from a file goes through :func:`printable`, so
such a sequence is shown as text, never obeyed. A leaf module: it imports nothing of kbench.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# C0 (U+0000-U+001F, tab and newline included: a value printed in a table cell or on one line must not break
# it), DEL (U+007F) and C1 (U+0080-U+009F, where U+009B is a one-character CSI to many terminals).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every C0/C1 control character (and DEL) written as a ``\\xNN`` escape.

    Why: so a value read from a file cannot move the cursor, clear the screen, retitle the window or hide the
    lines printed before it. Every other character, non-ASCII letters included, is kept as it is; a backslash
    is kept too, so an escaped value reads like the file's own text (``\\x1b`` in either case).
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def first_few(items: Sequence[str], shown: int = 3) -> str:
    """``a, b, c and 4 more``: the first ``shown`` of ``items`` named, the rest counted, for one-line messages."""
    head = ", ".join(items[:shown])
    return head if len(items) <= shown else f"{head} and {len(items) - shown} more"


__all__ = ["first_few", "printable"]

"""Safe reading of the project's YAML inputs (scenarios, GPU catalog, thresholds) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.errors import KbenchError, located


def read_yaml(path: Path, error: type[KbenchError], what: str) -> tuple[str, Any]:
    """Return ``(text, data)`` of a YAML file loaded with ``yaml.safe_load`` (no arbitrary objects).

    Raises:
        error: the file cannot be read, or is not valid YAML; the message names the file and, for
            syntax errors, the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(located(f"cannot read {what} ({exc.strerror})", file=path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise error(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return text, data

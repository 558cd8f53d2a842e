"""One exception root for every user-facing failure.

The CLI turns any :class:`KbenchError` into a single line on stderr and an exit code,
so a user mistake never shows a traceback.
"""

from __future__ import annotations

import reprlib
from pathlib import Path

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_RUNS_FAILED = 3
EXIT_INTERRUPTED = 130
SHOWN_CHARS = 200  # the most characters of a user's value an error message shows

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, SHOWN_CHARS, 80
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 6


class KbenchError(Exception):
    """Base of all errors the CLI reports as one line."""

    exit_code: int = EXIT_USAGE


def located(message: str, *, file: str | Path | None = None, field: str | None = None) -> str:
    """Format ``file: field: message``, leaving out the parts that are unknown."""
    parts = [str(p) for p in (file, field) if p not in (None, "")]
    return ": ".join([*parts, message])


def clip(value: object, limit: int = SHOWN_CHARS) -> str:
    """A user's value as an error message shows it: its repr, cut to about ``limit`` characters with the length.

    The repr is built with :mod:`reprlib`, so a huge (or alias-expanded) value costs no more than its first items.
    """
    if isinstance(value, str):
        text = repr(value[: limit + 1])
        return text if len(value) <= limit else f"{text[: limit + 1]}...' ({len(value):,} chars)"
    text = _REPR.repr(value)
    text = text if len(text) <= limit else text[:limit] + "..."
    if isinstance(value, (list, tuple, dict, set)) and len(value) > _REPR.maxlist:
        text += f" ({len(value):,} items)"
    return text


class ScenarioError(KbenchError):
    """A scenario file is malformed or asks for something that cannot run."""


class ModelError(KbenchError):
    """An unknown model, or a model/task/weights combination that does not exist."""


class ResultsFormatError(KbenchError):
    """A results file that cannot be read: corrupt, or of an unknown schema version."""


class CatalogError(KbenchError):
    """The GPU catalog (bundled or user-supplied) is invalid."""


class RunError(KbenchError):
    """A run could not be executed for a reason that is not the run's own failure."""


class InputFileError(KbenchError):
    """A file argument that is not a readable regular text file within its size cap."""


class OutputError(KbenchError):
    """An output path that cannot be written, or that names one of the command's own inputs."""


class ResultsWriteError(KbenchError):
    """A record could not be appended to the results file (disk full, folder removed, another writer)."""

    exit_code = EXIT_RUNS_FAILED


class RegressionFound(KbenchError):
    """A comparison found a regression; exit code 1."""

    exit_code = 1

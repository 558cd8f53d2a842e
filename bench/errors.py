"""One exception root for every user-facing failure.

The CLI turns any :class:`KbenchError` into a single line on stderr and an exit code,
so a user mistake never shows a traceback.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_RUNS_FAILED = 3
EXIT_INTERRUPTED = 130


class KbenchError(Exception):
    """Base of all errors the CLI reports as one line."""

    exit_code: int = EXIT_USAGE


def located(message: str, *, file: str | Path | None = None, field: str | None = None) -> str:
    """Format ``file: field: message``, leaving out the parts that are unknown."""
    parts = [str(p) for p in (file, field) if p not in (None, "")]
    return ": ".join([*parts, message])


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


class RegressionFound(KbenchError):
    """A comparison found a regression; exit code 1."""

    exit_code = 1

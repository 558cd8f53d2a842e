"""``kbench models --check DIR [--model ID]``: is a saved pipeline the registered model it claims to be?

Exit codes: 0 it matches, 1 it differs (the differences are printed), 2 bad input (one line).
"""

from __future__ import annotations

from pathlib import Path

import typer

from bench.cli.tables import format_table
from bench.errors import EXIT_OK, EXIT_REGRESSION, KbenchError
from bench.models.architecture import TOLERANCE
from bench.models.saved_pipeline import DirectoryCheck, check_directory


def render_check(result: DirectoryCheck) -> str:
    """The comparison as printed: a title, one row per component, then the verdict and its differences."""
    registered = result.registered.by_key()
    built = result.built.by_key()
    rows = []
    for key in [*registered, *(k for k in built if k not in registered)]:
        got, reg = built.get(key), registered.get(key)
        same_hash = got is not None and reg is not None and got.config_hash == reg.config_hash
        rows.append(
            [
                "/".join(key),
                got.class_name if got else "-",
                f"{got.parameters:,}" if got else "-",
                reg.class_name if reg else "-",
                f"{reg.parameters:,}" if reg else "-",
                (got.config_hash if got else "-") + (" (same)" if same_hash else " (differs)" if got and reg else ""),
            ]
        )
    headers = ["component", "class", "parameters", "registered class", "registered parameters", "config hash"]
    title = f"{result.directory}: {result.pipeline_class}, compared with {result.model} ({result.role})"
    lines = [title, format_table(headers, rows)]
    if result.others:
        lines.append(f"same pipeline class, not chosen: {', '.join(result.others)}")
    if result.matches:
        lines.append(
            f"matches the registered {result.model}: same components and classes, parameter counts within "
            f"{TOLERANCE * 100:g}%"
        )
    else:
        lines.append(f"differs from the registered {result.model}:")
        lines += [f"  - {d}" for d in result.verdict.differences]
    lines += [f"  note: {n}" for n in result.config_notes]
    return "\n".join(lines) + "\n"


def check_pipeline_dir(directory: Path | None, model: str | None) -> int:
    """Print the comparison of ``directory`` with its registered model; 0 when it matches, 1 when it differs."""
    if directory is None:
        raise KbenchError("--model: only with --check DIR (the directory to compare with the model)")
    result = check_directory(directory, model)
    typer.echo(render_check(result), nl=False)
    return EXIT_OK if result.matches else EXIT_REGRESSION


__all__ = ["check_pipeline_dir", "render_check"]

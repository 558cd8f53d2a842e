"""``kbench models``: the registered models; with ``--check DIR [--model ID]``, is a saved pipeline the registered
model it claims to be?

Exit codes: 0 it matches, 1 it differs (the differences are printed), 2 bad input (one line).
"""

from __future__ import annotations

from pathlib import Path

import typer

from bench.cli import pricing
from bench.cli.json_doc import document
from bench.cli.json_rows import check_rows, model_rows
from bench.cli.progress import Stages
from bench.cli.tables import format_table, terminal_width
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


def check_notes(result: DirectoryCheck) -> list[str]:
    """The verdict, its differences and the configuration notes, one line each (the ``--json`` notes)."""
    if result.matches:
        within = f"parameter counts within {TOLERANCE * 100:g}%"
        verdict = [f"matches the registered {result.model}: same components and classes, {within}"]
    else:
        verdict = [f"differs from the registered {result.model}: {d}" for d in result.verdict.differences]
    others = [f"same pipeline class, not chosen: {', '.join(result.others)}"] if result.others else []
    return [*verdict, *others, *(f"note: {n}" for n in result.config_notes)]


def check_pipeline_dir(directory: Path | None, model: str | None, *, as_json: bool = False) -> int:
    """Print the comparison of ``directory`` with its registered model; 0 when it matches, 1 when it differs."""
    if directory is None:
        raise KbenchError("--model: only with --check DIR (the directory to compare with the model)")
    with Stages("models") as stages:
        stages.stage(f"building the components of {directory} on the meta device")
        result = check_directory(directory, model)
    if as_json:
        query = {"check": str(directory), "model": result.model, "role": result.role, "class": result.pipeline_class}
        typer.echo(document("models", query, check_rows(result), check_notes(result)))
    else:
        typer.echo(render_check(result), nl=False)
    return EXIT_OK if result.matches else EXIT_REGRESSION


def models_command(
    check: Path | None = typer.Option(
        None, "--check", metavar="DIR", help="A saved pipeline directory to compare (configs only) with its model."
    ),
    model: str | None = typer.Option(None, "--model", help="With --check: the model id (default: from the class)."),
    json_out: bool = pricing.JSON,
) -> None:
    """List the registered models; with --check, compare a pipeline directory with one (exit 0 same, 1 differs)."""
    if check is not None or model is not None:
        raise typer.Exit(check_pipeline_dir(check, model, as_json=json_out))
    from bench.models.registry import MODELS

    rows = model_rows(list(MODELS.values()))
    if json_out:
        typer.echo(document("models", {}, rows))
        return
    keys = ("id", "tasks", "default_resolution", "default_steps", "default_guidance", "resolution_multiple")
    # the defaults of each model (resolution, steps, guidance) and the multiple its width and height must be of
    headers = ["id", "tasks", "resolution", "steps", "guidance", "multiple", "prompt languages"]
    cells = [[*(", ".join(r[k]) if isinstance(r[k], list) else str(r[k]) for k in keys)] for r in rows]
    cells = [[*c, ", ".join(r["prompt_languages"])] for c, r in zip(cells, rows, strict=True)]
    typer.echo(format_table(headers, cells, width=terminal_width(), shrink=[1, 6]))


def register(app: typer.Typer) -> None:
    """Add ``models`` to ``app``."""
    app.command("models")(models_command)


__all__ = ["check_notes", "check_pipeline_dir", "models_command", "register", "render_check"]

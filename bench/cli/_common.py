"""Shared CLI plumbing: error mapping and the --debug flag."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass

import typer

from bench.errors import EXIT_INTERRUPTED, EXIT_USAGE, KbenchError


@dataclass
class CliState:
    debug: bool = False


STATE = CliState()


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit with ``code``."""
    typer.echo(f"kbench: error: {message}", err=True)
    raise typer.Exit(code)


def run_app(app: typer.Typer, argv: list[str]) -> int:
    """Invoke the app in standalone-off mode so errors map to exit codes here, in one place."""
    STATE.debug = "--debug" in argv
    try:
        result = app(args=argv, standalone_mode=False)
        return int(result or 0)
    except KbenchError as exc:
        if STATE.debug:
            traceback.print_exc()
        typer.echo(f"kbench: error: {exc}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("kbench: interrupted", err=True)
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        typer.echo(f"kbench: error: {_usage_message(exc)}", err=True)
        return EXIT_USAGE
    finally:
        sys.stdout.flush()


def _usage_message(exc: Exception) -> str:
    """One line for a command-line usage error, with a pointer to the command's help."""
    format_message = getattr(exc, "format_message", None)
    message = str(format_message() if callable(format_message) else exc).strip().splitlines()[0]
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", "") if ctx is not None else ""
    return f"{message} (see {command} --help)" if command else message

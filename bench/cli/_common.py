"""Shared CLI plumbing: error mapping and the --debug flag."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass

import click
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
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        typer.echo("kbench: interrupted", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        typer.echo("kbench: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.UsageError as exc:
        hint = f" (see kbench {exc.ctx.command_path.split(' ', 1)[-1]} --help)" if exc.ctx else ""
        typer.echo(f"kbench: error: {exc.format_message()}{hint}", err=True)
        return EXIT_USAGE
    except click.exceptions.ClickException as exc:
        typer.echo(f"kbench: error: {exc.format_message()}", err=True)
        return EXIT_USAGE
    finally:
        sys.stdout.flush()

"""Shared CLI plumbing: error mapping, one-line messages and warnings, finite numbers, and the --debug flag."""

from __future__ import annotations

import contextlib
import math
import sys
import traceback
import warnings
from dataclasses import dataclass
from typing import Any, TextIO

import typer

from bench.cli.vocabulary import name_values
from bench.errors import EXIT_INTERRUPTED, EXIT_USAGE, KbenchError
from bench.measure.interrupts import owns_process, signals_passed_on
from bench.text import printable

MAX_MESSAGE_CHARS = 1000  # an error or warning line is cut here, whatever value it quotes
EXIT_INTERNAL = 70  # a bug in kbench (sysexits EX_SOFTWARE): never 1, which means "regression found"
# Modules of the optional extras (pyproject.toml), by the extra that installs them: a command that needs one
# that is missing says which extra to install, in one line.
OPTIONAL_MODULES = {
    **dict.fromkeys(("gradio", "gradio_client", "fastapi", "uvicorn", "httpx", "simpy"), "serve"),
    "ray": "ray",
    **dict.fromkeys(("torchao", "skimage"), "optimise"),
    "ruptures": "history",
}


@dataclass
class CliState:
    debug: bool = False


STATE = CliState()


def one_line(message: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message as one bounded line: line breaks shown as ``\\n``, the middle cut past ``limit`` characters."""
    # line breaks shown as \n / \r so the message stays one line; any other control character (an escape
    # sequence quoted from a file) as \xNN, so the terminal shows it rather than obeys it
    text = printable(str(message).replace("\r", "\\r").replace("\n", "\\n"))
    if len(text) <= limit:
        return text
    return f"{text[: limit - 60]} ... [{len(text) - limit + 60:,} more chars] ... {text[-40:]}"


def file_text(text: object, style: str = "") -> Any:
    """A rich ``Text`` of a value read from a file: control characters shown as ``\\xNN``, never obeyed.

    Line breaks are kept (a cell may list several values); everything else a terminal would act on (escape
    sequences that clear the screen, retitle the window or rewrite earlier lines) is printed as text.
    """
    from rich.text import Text

    return Text("\n".join(printable(line) for line in str(text).split("\n")), style=style)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit with ``code``."""
    typer.echo(f"kbench: error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def _finite(check: Any) -> Any:
    """A parameter callback that refuses ``nan``/``inf`` (range checks let NaN through), then runs ``check``."""

    def callback(ctx: Any, param: Any, value: Any) -> Any:
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                raise typer.BadParameter(f"{item!r} is not a finite number", ctx=ctx, param=param)
        return check(ctx, param, value) if check is not None else value

    return callback


def _finite_floats(command: Any) -> None:
    """Give every option and argument of every command (and subcommand) the finite-number check."""
    for param in command.params:
        param.callback = _finite(param.callback)
    for sub in getattr(command, "commands", {}).values():
        _finite_floats(sub)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Warnings of kbench's own readers as one ``kbench: warning:`` line each, without source lines."""
    with contextlib.suppress(OSError, ValueError):  # no terminal left to warn on
        typer.echo(f"kbench: warning: {one_line(message)}", err=True)


def run_app(app: typer.Typer, argv: list[str]) -> int:
    """Invoke the app in standalone-off mode so errors map to exit codes here, in one place.

    Inside another program (not :func:`~bench.measure.interrupts.process_entry`) a signal is that program's
    business: a sweep's stopping signal is delivered again once the command is done, and Ctrl-C anywhere else
    (typer turns it into exit code 130) is raised again as ``KeyboardInterrupt``.
    """
    with signals_passed_on():
        code = _run(app, argv)
    if code == EXIT_INTERRUPTED and not owns_process():
        raise KeyboardInterrupt
    return code


def _run(app: typer.Typer, argv: list[str]) -> int:
    STATE.debug = "--debug" in argv
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            command = typer.main.get_command(app)
            _finite_floats(command)
            name_values(command)
            result = command(args=argv, standalone_mode=False)
            return int(result or 0)
        except KbenchError as exc:
            if STATE.debug:
                traceback.print_exc()
            typer.echo(f"kbench: error: {one_line(exc)}", err=True)
            return exc.exit_code
        except typer.Exit as exc:
            return int(exc.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            if not owns_process():  # inside another program (pytest, a notebook): Ctrl-C is for it
                raise
            typer.echo("kbench: interrupted", err=True)
            return EXIT_INTERRUPTED
        except typer.TyperException as exc:  # usage errors: unknown option, bad value, missing argument
            if type(exc).__name__ == "NoArgsIsHelpError":  # `kbench`, `kbench sky`: no command given, so the help
                help_text = getattr(exc, "format_message", None)
                typer.echo(help_text() if callable(help_text) else str(exc), err=True)
                return EXIT_USAGE
            typer.echo(f"kbench: error: {one_line(_usage_message(exc))}", err=True)
            return EXIT_USAGE
        except BrokenPipeError:  # `kbench ... | head`: the reader left; nothing more to say
            return 0
        except Exception as exc:  # a bug, not the user's input: say so on one line, keep exit 1 for regressions
            if extra := _missing_extra(exc):
                typer.echo(
                    f"kbench: error: this needs the optional '{extra}' extra ({getattr(exc, 'name', '')} is not "
                    f"installed): pip install 'kandinsky-bench[{extra}]' (or [all])",
                    err=True,
                )
                return EXIT_USAGE
            if STATE.debug:
                traceback.print_exc()
            typer.echo(
                f"kbench: internal error: {one_line(f'{type(exc).__name__}: {exc}', 300)} "
                "(a bug in kbench; rerun with --debug for the traceback)",
                err=True,
            )
            return EXIT_INTERNAL
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.flush()


def _missing_extra(exc: BaseException) -> str | None:
    """The optional extra whose module ``exc`` says is missing, if it is one."""
    if not isinstance(exc, ModuleNotFoundError):
        return None
    return OPTIONAL_MODULES.get((exc.name or "").split(".")[0])


def _usage_message(exc: Exception) -> str:
    """One line for a command-line usage error, with a pointer to the command's help."""
    format_message = getattr(exc, "format_message", None)
    message = str(format_message() if callable(format_message) else exc).strip().splitlines()[0]
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", "") if ctx is not None else ""
    return f"{message} (see {command} --help)" if command else message

"""The ``kbench`` command line. Thin: each command parses options, calls one library function,
and maps :class:`~bench.errors.KbenchError` to one line on stderr and an exit code.

Exit codes: 0 ok, 1 regression found, 2 usage/config/input error, 3 runs failed, 130 interrupted (143 on
SIGTERM, 129 on SIGHUP), 70 a bug in kbench.
"""

from __future__ import annotations

import os
import sys

import typer

from bench import __version__
from bench.cli import _common
from bench.measure.interrupts import process_entry

app = typer.Typer(
    name="kbench",
    help=(
        "Benchmark and cost Kandinsky text-to-image pipelines.\n\n"
        "Exit codes: 0 ok, 1 regression found, 2 bad input, 3 some runs failed, 130 interrupted "
        "(143 SIGTERM, 129 SIGHUP), 70 internal error."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: option names and their values whole at 80 columns, defaults shown, nothing cut (rich's
    # bordered panels give the help text a third of the width and cut long option names)
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kbench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    wide: bool = typer.Option(
        False, "--wide", help="Tables as wide as they need (default: the terminal's width, 120 in a pipe)."
    ),
    progress: bool | None = typer.Option(
        None,
        "--progress/--no-progress",
        help="Stage lines on stderr for steps over 2 s (default: when stderr is a terminal).",
        show_default=False,
    ),
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    from bench.cli.progress import PROGRESS
    from bench.cli.tables import TABLE_WIDTH

    _common.STATE.debug = debug
    TABLE_WIDTH.wide = wide
    PROGRESS.show = progress


def _register() -> None:
    from bench.cli import (
        commands_ab,
        commands_compare,
        commands_cost,
        commands_counting,
        commands_history,
        commands_offers,
        commands_optimise,
        commands_prices,
        commands_projection,
        commands_report,
        commands_run,
        commands_sky,
        models_check,
    )

    for module in (
        commands_run,
        models_check,
        commands_report,
        commands_compare,
        commands_ab,
        commands_history,
        commands_cost,
        commands_counting,
        commands_prices,
        commands_offers,
        commands_projection,
        commands_optimise,
        commands_sky,
    ):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Run one command in this process and return its exit code; user errors become one line and a code.

    Called from another program (tests, the pytest plugin, a notebook), a signal that stops the command is
    passed on to that program's handlers afterwards; :func:`entry` is the process's own entry point.
    """
    return _common.run_app(app, argv if argv is not None else sys.argv[1:])


def entry() -> None:
    """The ``kbench`` command (and ``python -m bench``): a signal that stops a command is its exit code."""
    with process_entry():
        code = main()
    ray_connect = sys.modules.get("bench.measure.executors.ray_connect")  # imported only by --executor ray
    if ray_connect is not None and ray_connect.abandoned_ray_start():
        # a signal stopped ray.init half way: Ray's core, still starting in a thread, crashes or waits in the
        # interpreter's teardown. The command has said why it stopped; its watcher stops Ray's processes by PID
        # once this process is gone.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


__all__ = ["app", "entry", "main"]

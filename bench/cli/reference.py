"""The CLI reference page (``docs/cli.md``), rendered from the typer app itself so it cannot drift from ``--help``.

The page opens with the flag vocabulary (:data:`bench.cli.vocabulary.FLAGS`, with the commands each flag appears
in), then lists every command with its arguments and options: each option's names, value, help and default
exactly as ``kbench COMMAND --help`` prints them (the same help records). ``docs/tools/make_cli_reference.py``
writes the page; a test fails when the file differs from :func:`render_reference`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import typer

from bench.cli.vocabulary import FLAGS, name_values

TITLE = "# `kbench` command reference"
INTRO = (
    "Generated from the command-line app by `docs/tools/make_cli_reference.py` (`nox -s docs`) from the same help "
    "records `kbench COMMAND --help` prints; a test fails when this page is stale. Exit codes: 0 ok, 1 regression "
    "found, 2 bad input, 3 some runs failed, 130 interrupted (143 SIGTERM, 129 SIGHUP), 70 internal error. Every "
    "command also takes `--help`."
)


def _cell(text: str) -> str:
    """Text safe in a markdown table cell: pipes, angle brackets and asterisks shown, not interpreted."""
    text = " ".join(text.split())
    for char, escaped in (("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*")):
        text = text.replace(char, escaped)
    return text


def _paragraphs(text: str) -> list[str]:
    """A docstring's paragraphs, each on one line (markdown joins them anyway; one line diffs better)."""
    text = inspect.cleandoc(text).split("\f")[0]
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    return [line for p in paragraphs for line in (p.replace("<", "&lt;").replace(">", "&gt;"), "")]


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command below ``command`` (groups too), in the order ``--help`` lists them, with its name path."""
    for name, sub in getattr(command, "commands", {}).items():
        if getattr(sub, "hidden", False):
            continue
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


def _context(command: Any, path: tuple[str, ...], root: Any) -> Any:
    parent = root.context_class(root, info_name="kbench")
    return command.context_class(command, info_name=" ".join(path) or "kbench", parent=parent)


def _params_table(command: Any, ctx: Any, kind: str) -> list[str]:
    params = [p for p in command.get_params(ctx) if getattr(p, "param_type_name", "") == kind]
    records = [p.get_help_record(ctx) for p in params if "--help" not in getattr(p, "opts", ())]
    rows = [f"| `{names}` | {_cell(help_text)} |" for names, help_text in (r for r in records if r is not None)]
    if not rows:
        return []
    title = "argument" if kind == "argument" else "option"
    return [f"| {title} | help |", "|---|---|", *rows, ""]


def _flag_commands(root: Any) -> dict[str, list[str]]:
    """Each option name and the commands that take it."""
    found: dict[str, list[str]] = {}
    for path, command in _commands(root):
        for param in getattr(command, "params", ()):
            if getattr(param, "param_type_name", "") == "option" and not getattr(param, "hidden", False):
                for opt in (*param.opts, *param.secondary_opts):
                    found.setdefault(opt, []).append(" ".join(path))
    for param in root.params:
        for opt in (*param.opts, *param.secondary_opts):
            found.setdefault(opt, []).append("kbench (before the command)")
    return found


def render_reference(app: typer.Typer) -> str:
    """The whole page, as markdown text."""
    root = typer.main.get_command(app)
    name_values(root)  # the value names --help shows (run_app applies the same before every command)
    where = _flag_commands(root)
    out = [TITLE, "", INTRO, "", "## Flag vocabulary", ""]
    out += ["A flag means one thing in every command that takes it.", ""]
    out += ["| flag | meaning | commands |", "|---|---|---|"]
    for flag, meaning in FLAGS:
        commands = where.get(flag.split()[0], [])
        out.append(f"| `{flag}` | {_cell(meaning)} | {_cell(', '.join(commands)) or '-'} |")
    out += ["", "## Options before the command", ""]
    out += _params_table(root, _context(root, (), root), "option")
    out += ["## Commands", ""]
    for path, command in _commands(root):
        ctx = _context(command, path, root)
        heading = "#" * min(len(path) + 2, 4)
        out += [f"{heading} `kbench {' '.join(path)}`", ""]
        usage = " ".join(command.collect_usage_pieces(ctx))
        out += [f"`kbench {' '.join(path)} {usage}`", ""]
        out += _paragraphs(command.help or "")
        out += _params_table(command, ctx, "argument")
        out += _params_table(command, ctx, "option")
    return "\n".join(out).rstrip() + "\n"


__all__ = ["render_reference"]

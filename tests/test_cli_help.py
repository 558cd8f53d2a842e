"""``--help`` of every command reads whole at 80 columns, and the CLI reference page is the app's own help.

The app is walked, not listed: a command added later is held to the same rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from bench.cli import app, main
from bench.cli.reference import render_reference
from bench.cli.vocabulary import FLAGS, METAVARS

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 80


def _commands(command, path=()):
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


ROOT_COMMAND = typer.main.get_command(app)
COMMANDS = {" ".join(path): (path, command) for path, command in _commands(ROOT_COMMAND)}


def _options(command):
    return [p for p in command.params if p.param_type_name == "option" and not p.hidden and "--help" not in p.opts]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_at_80_columns_shows_every_option_whole_with_its_help_and_default(name, monkeypatch, capsys):
    path, command = COMMANDS[name]
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert max(map(len, lines)) <= WIDTH, max(lines, key=len)
    assert "…" not in text and "╭" not in text  # nothing cut, no panel borders eating the width
    for option in _options(command):
        for flag in (*option.opts, *option.secondary_opts):
            assert any(flag in line.split() or f"{flag}," in line.split() for line in lines), (name, flag)
        assert option.help and option.help.strip(), f"{name} {option.opts[0]}: no help text"
        shown_default = option.default not in (None, False, "", [], ()) and not callable(option.default)
        if shown_default and option.show_default is not False:
            record = " ".join(option.get_help_record(command.context_class(command)))
            assert "[default:" in record or "default:" in record, (name, option.opts[0])


def test_values_are_named_by_the_vocabulary(capsys):
    assert main(["recommend", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--gpu GPU" in text and "--results FILE" in text and "--resolution WxH" in text
    assert "<list[" not in text and "range>" not in text  # typer's own type names are gone
    assert main(["sky", "plan", "--help"]) == 0
    assert "--out DIR" in capsys.readouterr().out  # a metavar declared by the command wins


def test_the_vocabulary_names_only_flags_the_app_has():
    every = {o for _, c in COMMANDS.values() for p in c.params for o in (*p.opts, *p.secondary_opts)}
    every |= {o for p in ROOT_COMMAND.params for o in p.opts}
    assert {flag.split()[0] for flag, _ in FLAGS} <= every
    assert set(METAVARS) <= every  # a renamed flag leaves no stale value name behind


def test_old_spellings_still_work_but_are_not_shown(capsys):
    for path, hidden in ((("ab",), "--output"), (("compare",), "--markdown")):
        assert main([*path, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"{hidden} " not in out and f"{hidden}\n" not in out


def test_the_cli_reference_page_is_current():
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == render_reference(app), "docs/cli.md is stale: run python docs/tools/make_cli_reference.py"
    for name in COMMANDS:
        assert f"`kbench {name}`" in page
    assert "[docs/cli.md](docs/cli.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_session_defaults_come_from_one_constant():
    from bench.cli.pricing import DEFAULT_SESSION_IMAGES

    defaults: dict[str, set] = {}
    for _, command in COMMANDS.values():
        for option in _options(command):
            for flag in ("--session-images", "--session-hours", "--setup-minutes"):
                if flag in option.opts:
                    defaults.setdefault(flag, set()).add(option.default)
    # a costing command (cost, optimise-report) always costs a session of the one default size; a ranking command
    # (recommend, offers) ranks the steady state unless a session is asked for
    assert defaults["--session-images"] == {None, DEFAULT_SESSION_IMAGES}
    assert defaults["--session-hours"] == {None}
    assert len(defaults["--setup-minutes"]) == 1


@pytest.mark.parametrize("args", [[], ["sky"], ["baseline"]])
def test_no_command_prints_the_help_not_a_traceback(args, capsys):
    assert main(args) == 2  # a usage error, as click has it, but the whole help rather than its first line
    err = capsys.readouterr().err
    assert err.startswith("Usage: ") and "Commands:" in err and "Traceback" not in err

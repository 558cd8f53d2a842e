"""A command that needs an optional extra that is not installed says which one, in one line, exit 2."""

from __future__ import annotations

import sys

import pytest
import typer

from bench.cli._common import EXIT_INTERNAL, OPTIONAL_MODULES, run_app


def _app(module: str) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def needs() -> None:
        __import__(module)

    @app.command()
    def other() -> None:
        pass

    return app


@pytest.mark.parametrize(("module", "extra"), [("ruptures", "history"), ("httpx", "serve"), ("skimage", "optimise")])
def test_a_missing_optional_module_names_its_extra(monkeypatch, capsys, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import of it now fails as if it were not installed
    assert run_app(_app(module), ["needs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"optional '{extra}' extra" in err[0] and f"kandinsky-bench[{extra}]" in err[0]


def test_a_missing_module_of_no_extra_is_still_an_internal_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "no_such_dependency_xyz", None)
    assert "no_such_dependency_xyz" not in OPTIONAL_MODULES
    assert run_app(_app("no_such_dependency_xyz"), ["needs"]) == EXIT_INTERNAL
    assert "internal error" in capsys.readouterr().err

"""Developer sessions: ``nox -s lint tests`` before a commit, ``nox -s bench`` for performance targets."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
TORCH = "torch==2.13.0"  # CPU build; GPU users install their CUDA build of torch first


def _install(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[dev]")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy."""
    _install(session)
    session.run("ruff", "check", "bench", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "bench", "tests", "noxfile.py")
    session.run("mypy")


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The unit and integration suite (benchmarks run once each, untimed)."""
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Speed and memory targets: the harness overhead, stage sums, report size, compare's noise floor."""
    _install(session)
    session.run(
        "pytest",
        "--benchmark-enable",
        "--benchmark-only",
        "--benchmark-columns=min,median,max,rounds",
        "tests",
        "benchmarks",
        *session.posargs,
    )

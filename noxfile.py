"""Developer sessions: ``nox -s lint tests`` before a commit, ``nox -s bench`` for performance targets,
``nox -s docs`` for the example report and its screenshots, ``nox -s projection_docs`` for the projection figures
of docs/projection.md, ``nox -s full`` for full-size models on the CPU, ``nox -s gpu`` for the GPU acceptance
checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
    """Speed and memory targets: harness overhead, stage sums, report size, compare's noise floor, projection error."""
    _install(session)
    session.run(
        "pytest",
        "-n",
        "0",  # one process: pytest-benchmark measures nothing in xdist workers, and timings need the cores
        "--benchmark-enable",
        "--benchmark-only",
        "--benchmark-columns=min,median,max,rounds",
        "tests",
        "benchmarks",
        *session.posargs,
    )


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The README's example report and its screenshots (1280 and 390 px), rebuilt from the example results, and
    the command reference docs/cli.md, from the command-line app."""
    _install(session)
    session.run("python", "docs/tools/make_examples.py")
    session.run("python", "docs/tools/make_cli_reference.py")


PROJECTION_DOC = Path("docs/projection.md")
BLOCK_BEGIN = "<!-- begin: kbench projection-check --markdown (written by nox -s projection_docs; do not edit) -->"
BLOCK_END = "<!-- end: kbench projection-check --markdown -->"


def _with_block(text: str, block: str) -> str:
    """``text`` with everything between the two markers replaced by ``block``."""
    head, begin, rest = text.partition(BLOCK_BEGIN)
    _, end, tail = rest.partition(BLOCK_END)
    if not begin or not end:
        raise ValueError(f"{PROJECTION_DOC} lacks the markers {BLOCK_BEGIN!r} ... {BLOCK_END!r}")
    return f"{head}{BLOCK_BEGIN}\n\n{block.strip()}\n\n{BLOCK_END}{tail}"


@nox.session(python="3.11")
def projection_docs(session: nox.Session) -> None:
    """Rewrite the projection figures of docs/projection.md (rows, cross-validation per GPU class and model family,
    interval coverage, worst rows, and the VRAM estimate against published peaks and the guide's figures) from
    ``kbench projection-check --markdown --vram``, so no figure there is copied by hand;
    ``nox -s projection_docs -- --check`` fails instead when the block is stale."""
    _install(session)
    kbench = Path(session.bin) / "kbench"
    command = [str(kbench), "projection-check", "--markdown", "--vram"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        session.error(f"kbench projection-check failed:\n{result.stderr}")
    text = PROJECTION_DOC.read_text(encoding="utf-8")
    updated = _with_block(text, result.stdout)
    if "--check" in session.posargs:
        if updated != text:
            session.error(f"{PROJECTION_DOC} is stale: run nox -s projection_docs")
        return
    PROJECTION_DOC.write_text(updated, encoding="utf-8")
    session.log(f"rewrote the projection-check block of {PROJECTION_DOC}")


@nox.session(python="3.11")
def full(session: nox.Session) -> None:
    """Full-size random models end to end on the CPU (about 10 GB of RAM, a few minutes)."""
    _install(session)
    session.run("pytest", "-n", "0", "-m", "full", "-s", "tests/full", *session.posargs)


@nox.session(python="3.11")
def gpu(session: nox.Session) -> None:
    """The GPU acceptance checks (needs a CUDA build of torch: install it into the session first), then the
    harness-overhead benchmark on the GPU."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "bench.acceptance", *session.posargs)
    session.run(
        "pytest",
        "-n",
        "0",
        "--benchmark-enable",
        "--benchmark-only",
        "benchmarks/test_harness.py",
        env={"KBENCH_BENCH_DEVICE": "cuda"},
    )

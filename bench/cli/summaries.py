"""Writing a markdown summary, its figure beside it, and the GitHub job summary (``--summary``, ``--step-summary``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import typer

from bench.cli.outputs import Output
from bench.errors import OutputError, located

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def summary_outputs(summary: Path | None, step_summary: bool = False) -> list[Output]:
    """The files ``--summary FILE`` writes (the markdown and its figure, ``FILE`` with ``.png``), and with
    ``--step-summary`` the job summary file ``$GITHUB_STEP_SUMMARY`` names: checked like every output, so it
    can be neither an input of the command nor a FIFO that would block the append."""
    outputs = [Output("--summary", summary), Output("--summary", figure_path(summary))] if summary is not None else []
    target = os.environ.get(STEP_SUMMARY_ENV) if step_summary else None
    if target:
        outputs.append(Output(f"--step-summary (${STEP_SUMMARY_ENV})", Path(target)))
    return outputs


def figure_path(summary: Path) -> Path:
    return summary.with_suffix(".png")


def write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(located(f"cannot write ({exc.strerror or exc})", file=path)) from None


def write_summary(
    summary: Path | None,
    step_summary: bool,
    render: Callable[[str | None], str],
    figure: Callable[[], bytes | None],
) -> None:
    """Write ``render(figure name)`` to ``summary`` with its figure, and append it to the job summary.

    The job summary (``$GITHUB_STEP_SUMMARY``, with ``--step-summary``) gets the markdown without the image:
    a relative image cannot show there; the workflow uploads the figure beside the file instead.
    """
    if summary is not None:
        data = figure()
        name: str | None = None
        if data is not None:
            write_bytes(figure_path(summary), data)
            name = figure_path(summary).name
        write_bytes(summary, render(name).encode("utf-8"))
    if step_summary:
        target = os.environ.get(STEP_SUMMARY_ENV)
        if not target:
            typer.echo(f"kbench: note: --step-summary: {STEP_SUMMARY_ENV} is not set; nothing appended", err=True)
            return
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(render(None) + "\n")
        except OSError as exc:
            raise OutputError(located(f"cannot append ({exc.strerror or exc})", file=target)) from None


__all__ = ["STEP_SUMMARY_ENV", "figure_path", "summary_outputs", "write_bytes", "write_summary"]

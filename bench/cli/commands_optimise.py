"""``kbench optimise-report``: the ranking of an optimisation sweep per model and device, in the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console

from bench.cli import pricing
from bench.cli._common import file_text
from bench.cli.outputs import Output, check_outputs
from bench.cli.tables import format_table, terminal_width
from bench.errors import ResultsFormatError
from bench.optimise.ranking import RankRow

NO_WRAP = ("setting", "s/image", "speed-up [95% CI]", "break-even", "peak MB", "PSNR dB")
TERMINAL_DROPS = ("#", "SSIM")  # the order is the rank; SSIM is in --markdown and the records
EMPTY_DROPS = ("$/1k", "$/1k session", "compile s", "break-even")  # left out where no cell has one (notes say why)


def optimise_report_command(
    results: list[Path] = typer.Argument(..., help="Results files of an optimisation sweep (JSON lines)."),
    session_images: int = typer.Option(
        pricing.DEFAULT_SESSION_IMAGES,
        "--session-images",
        min=1,
        help="Cost a session of N images: model load, warmup, compiling and billing included.",
    ),
    gpu: str = typer.Option(None, "--gpu", help="Price every run at this catalog GPU (e.g. CPU runs)."),
    price: list[str] = typer.Option([], "--price", help="Override a price: GPU_ID=USD_PER_HOUR (repeatable)."),
    psnr_threshold: float = typer.Option(
        None,
        "--psnr-threshold",
        min=0.0,
        help="Flag 'quality changed' below this PSNR (default: the runs' own, 30 dB).",
    ),
    markdown: bool = pricing.MARKDOWN,
    json_out: bool = pricing.JSON,
    figure: Path = typer.Option(None, "--figure", help="Write the speed-vs-quality figure (SVG) here."),
) -> None:
    """Rank each setting: s/image, $ per 1000 images, compile time and break-even, peak memory, PSNR vs baseline."""
    from bench.cost.catalog import load_catalog, parse_price_overrides
    from bench.optimise.ranking import rank
    from bench.report.optimise_table import render_optimise_markdown
    from bench.results import read_results

    if figure is not None:
        check_outputs([Output("--figure", figure)], results)
    catalog = load_catalog(None, parse_price_overrides(price))
    if gpu:
        catalog.get(gpu)  # an unknown id fails here, naming the known ones
    records = read_results(results)
    if not records:
        raise ResultsFormatError(f"{', '.join(map(str, results))}: no runs recorded; nothing to rank")
    rows = rank(records, catalog, session_images=session_images, gpu_id=gpu, threshold_db=psnr_threshold)
    if json_out:
        typer.echo(_json(rows, results, session_images, gpu, psnr_threshold))
    elif markdown:
        typer.echo(render_optimise_markdown(rows), nl=False)
    else:
        print_ranking(rows)
    if figure is not None:
        _write_figure(rows, figure, psnr_threshold, to_stderr=json_out)


def _json(
    rows: Sequence[RankRow], results: list[Path], session_images: int, gpu: str | None, threshold_db: float | None
) -> str:
    from bench.cli.json_doc import document
    from bench.cli.json_rows import optimise_rows
    from bench.report.optimise_table import NOISE_NOTE, cost_note, speedup_note

    query = {
        "results": [str(p) for p in results],
        "session_images": session_images,
        "gpu": gpu,
        "psnr_threshold_db": threshold_db,
    }
    notes = [speedup_note(rows), cost_note(rows), NOISE_NOTE]
    notes += sorted({r.quality_note for r in rows if r.quality_note})
    return document("optimise-report", query, optimise_rows(rows), notes)


def print_ranking(rows: Sequence[RankRow]) -> None:
    """The ranking as tables, one per model/device and workload, with the notes under them."""
    from bench.report.optimise_table import HEADERS, NOISE_NOTE, cost_note, grouped, speedup_note

    console = Console(width=terminal_width() or 10**4)  # notes wrap to the width; tables already fit it
    for group in grouped(rows):
        shown = [
            i
            for i, header in enumerate(HEADERS)
            if header not in TERMINAL_DROPS and (header not in EMPTY_DROPS or any(r[i] != "—" for r in group.cells))
        ]
        headers = [HEADERS[i] for i in shown]
        cells = [[row[i] for i in shown] for row in group.cells]
        shrink = [j for j, h in enumerate(headers) if h not in NO_WRAP]
        table = format_table(headers, cells, width=terminal_width(), shrink=shrink)
        console.print(file_text(f"{group.heading}\n{table}"))
        for setting, status, reason in group.unmeasured:
            console.print(
                file_text(
                    f"  {status}: {reason}"
                    if reason.startswith(setting.split("@")[0])
                    else f"  {status}: {setting}: {reason}"
                )
            )
    console.print(file_text(speedup_note(rows)))
    console.print(file_text(cost_note(rows)))
    console.print(file_text(NOISE_NOTE))
    for note in sorted({r.quality_note for r in rows if r.quality_note}):
        console.print(file_text(f"note: {note}"))


def _write_figure(rows: Sequence[RankRow], path: Path, threshold_db: float | None, *, to_stderr: bool = False) -> None:
    """Write the figure and say so (on stderr under ``--json``: stdout holds the document)."""
    from bench.report.optimise_figure import pareto_figure

    fig = pareto_figure(rows, 30.0 if threshold_db is None else threshold_db)
    if not fig.svg:
        typer.echo(f"figure: not written ({fig.missing})", err=True)
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(fig.svg, encoding="utf-8")
    tmp.replace(path)
    typer.echo(f"figure: {path}", err=to_stderr)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("optimise-report")(optimise_report_command)

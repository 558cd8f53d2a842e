"""``kbench optimise-report``: the ranking of an optimisation sweep per model and device, in the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from bench.cli._common import file_text
from bench.cli.outputs import Output, check_outputs
from bench.errors import ResultsFormatError
from bench.optimise.ranking import RankRow

TABLE_WIDTH = 120  # terminal tables fit 120 columns
NO_WRAP = ("setting", "s/image", "speed-up [95% CI]", "break-even", "peak MB", "PSNR dB")
TERMINAL_DROPS = ("#", "SSIM")  # the order is the rank; SSIM is in --markdown and the records
EMPTY_DROPS = ("$/1k", "$/1k session", "compile s", "break-even")  # left out where no cell has one (notes say why)


def optimise_report_command(
    results: list[Path] = typer.Argument(..., help="Results files of an optimisation sweep (JSON lines)."),
    session_images: int = typer.Option(1000, "--session-images", min=1, help="Images a session pays start-up over."),
    gpu: str = typer.Option(None, "--gpu", help="Price every run at this catalog GPU (e.g. CPU runs)."),
    price: list[str] = typer.Option([], "--price", help="Override a price: GPU_ID=USD_PER_HOUR (repeatable)."),
    psnr_threshold: float = typer.Option(
        None,
        "--psnr-threshold",
        min=0.0,
        help="Flag 'quality changed' below this PSNR (default: the runs' own, 30 dB).",
    ),
    markdown: bool = typer.Option(False, "--markdown", help="Print markdown instead of a terminal table."),
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
    if markdown:
        typer.echo(render_optimise_markdown(rows), nl=False)
    else:
        print_ranking(rows)
    if figure is not None:
        _write_figure(rows, figure, psnr_threshold)


def print_ranking(rows: Sequence[RankRow]) -> None:
    """The ranking as rich tables, one per model/device and workload, with the notes under them."""
    from bench.report.optimise_table import HEADERS, NOISE_NOTE, cost_note, grouped, speedup_note

    console = Console(width=TABLE_WIDTH)
    for group in grouped(rows):
        table = Table(title=group.heading, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        shown = [
            i
            for i, header in enumerate(HEADERS)
            if header not in TERMINAL_DROPS and (header not in EMPTY_DROPS or any(r[i] != "—" for r in group.cells))
        ]
        for i in shown:
            table.add_column(HEADERS[i], overflow="fold", no_wrap=HEADERS[i] in NO_WRAP)
        for row in group.cells:
            table.add_row(*(file_text(row[i]) for i in shown))
        console.print(table)
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


def _write_figure(rows: Sequence[RankRow], path: Path, threshold_db: float | None) -> None:
    from bench.report.optimise_figure import pareto_figure

    fig = pareto_figure(rows, 30.0 if threshold_db is None else threshold_db)
    if not fig.svg:
        typer.echo(f"figure: not written ({fig.missing})", err=True)
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(fig.svg, encoding="utf-8")
    tmp.replace(path)
    typer.echo(f"figure: {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("optimise-report")(optimise_report_command)

"""``kbench history``: each run's results over time (and commit), its steps, and a rolling baseline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from bench.cli._common import file_text
from bench.cli.outputs import Output, check_outputs
from bench.cli.summaries import summary_outputs, write_bytes, write_summary
from bench.errors import RegressionFound
from bench.text import first_few

if TYPE_CHECKING:
    from bench.history import HistoryReport

PLOT_SUFFIXES = (".png", ".svg")


def _print(console: Console, report: HistoryReport) -> None:
    from bench.report.compare_render import format_seconds, format_time_cell

    table = Table(title=f"kbench history ({report.method}, min effect {report.min_effect * 100:g}%)")
    for col in ("run", "points", "series (commit: median)", "steps", "newest segment", "rolling baseline"):
        table.add_column(col, overflow="fold")
    for s in report.series:
        tail = s.points[-6:]
        series = ("… " if len(s.points) > 6 else "") + ", ".join(
            f"{(p.commit or '?')[:7]}: {format_seconds(p.median_s)}" for p in tail
        )
        steps = "\n".join(
            f"at {st.index} ({(st.commit or '?')[:10]}): {format_seconds(st.before_s)} -> "
            f"{format_seconds(st.after_s)} ({st.change * 100:+.1f}%)"
            for st in s.steps
        )
        newest = s.newest_change or "-"
        if s.step_not_judged is not None:
            newest = f"{newest} ({s.step_not_judged})"
        roll = "-"
        if s.rolling is not None and s.rolling.time is not None:
            roll = f"{s.rolling.verdict} {format_time_cell(s.rolling.time)} n={s.rolling.time.n_baseline}/"
            roll += f"{s.rolling.time.n_current}" + "".join(f"; {n}" for n in s.rolling.notes if "not judged" in n)
        table.add_row(
            file_text(s.run_key),
            str(len(s.points)),
            file_text(series),
            file_text(steps or "none"),
            file_text(newest, style="bold red" if s.new_regression else ""),
            file_text(roll, style="bold red" if s.rolling is not None and s.rolling.is_regression else ""),
        )
    console.print(table)


def history(
    results: list[Path] = typer.Argument(..., help="Results files (or folders of *.jsonl) over time."),
    fail_on_new_step: bool = typer.Option(
        False, "--fail-on-new-step", help="Exit 1 when a series' newest segment is slower than the one before."
    ),
    baseline: str | None = typer.Option(
        None, "--baseline", help="last:N: compare each newest point with the N points before it (exit 1 if slower)."
    ),
    min_effect: float = typer.Option(
        0.05, "--min-effect", min=0.001, max=10.0, help="Smallest step kept, as a fraction (0.05 = 5%)."
    ),
    min_points: int = typer.Option(2, "--min-points", min=1, max=100, help="Fewest points in a segment."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the series and their steps (.png or .svg)."),
    summary: Path | None = typer.Option(None, "--summary", help="Markdown summary (and a .png figure beside it)."),
    step_summary: bool = typer.Option(False, "--step-summary", help="Also append it to $GITHUB_STEP_SUMMARY."),
    threshold: list[str] = typer.Option([], "--threshold", "-t", help="Rules of the rolling comparison."),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Exit 1 when a verdict asked for (--fail-on-new-step, --baseline) has too few points or processes to "
        "judge (default: say so, exit 0).",
    ),
) -> None:
    """Order RESULTS by time and commit per run, find steps, and plot them; exit 1 on a judged slowdown asked for
    (or, with --strict, on one it cannot judge)."""
    from bench.cli.commands_compare import _result_files
    from bench.compare.thresholds import build_thresholds
    from bench.history import HistoryError, build_history, parse_baseline
    from bench.report.summary_figures import history_figure
    from bench.report.summary_md import render_history_summary
    from bench.results import read_results

    files = [f for p in results for f in _result_files(p)]
    if plot is not None and plot.suffix.lower() not in PLOT_SUFFIXES:
        raise HistoryError(f"--plot: {plot} must end in .png or .svg")
    outputs = ([Output("--plot", plot)] if plot is not None else []) + summary_outputs(summary, step_summary)
    check_outputs(outputs, files)
    last = parse_baseline(baseline)
    rules = build_thresholds(threshold, [])
    report = build_history(
        read_results(files), min_effect=min_effect, min_size=min_points, baseline_last=last, thresholds=rules
    )
    _print(Console(), report)
    if plot is not None:
        data = history_figure(report, "svg" if plot.suffix.lower() == ".svg" else "png")
        if data is not None:
            write_bytes(plot, data)
    write_summary(
        summary,
        step_summary,
        lambda figure: render_history_summary(report, figure=figure),
        lambda: history_figure(report, "png"),
    )
    failing = [s.run_key for s in report.series if fail_on_new_step and s.new_regression]
    failing += [s.run_key for s in report.series if s.rolling is not None and s.rolling.is_regression]
    if failing:
        keys = ", ".join(dict.fromkeys(failing))
        raise RegressionFound(f"slower: {keys}")
    unjudged = report.not_judged(steps=fail_on_new_step, rolling=last is not None)
    if strict and unjudged:
        from bench.compare.stats import min_samples_for

        raise RegressionFound(
            f"--strict: {len(unjudged)} series not judged for too few points or processes (at least "
            f"{min_samples_for()} a side): {first_few(list(unjudged))}"
        )


def register(app: typer.Typer) -> None:
    """Add ``history`` to ``app``."""
    app.command("history")(history)

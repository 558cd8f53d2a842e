"""``kbench history``: each run's results over time (and commit), its steps, and a rolling baseline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from bench.cli import pricing
from bench.cli._common import file_text
from bench.cli.json_doc import document
from bench.cli.json_rows import history_rows
from bench.cli.outputs import Output, check_outputs
from bench.cli.progress import Stages
from bench.cli.summaries import summary_outputs, write_bytes, write_summary
from bench.cli.tables import format_table, terminal_width
from bench.errors import RegressionFound
from bench.text import first_few

if TYPE_CHECKING:
    from bench.history import HistoryReport

PLOT_SUFFIXES = (".png", ".svg")


def _print(console: Console, report: HistoryReport) -> None:
    from bench.report.compare_render import format_seconds, format_time_cell

    headers = ["run", "points", "series (commit: median)", "steps", "newest segment", "rolling baseline"]
    rows = []
    for s in report.series:
        tail = s.points[-6:]
        series = ("… " if len(s.points) > 6 else "") + ", ".join(
            f"{(p.commit or '?')[:7]}: {format_seconds(p.median_s)}" for p in tail
        )
        steps = "; ".join(
            f"at {st.index} ({(st.commit or '?')[:10]}): {format_seconds(st.before_s)} -> "
            f"{format_seconds(st.after_s)} ({st.change * 100:+.1f}%)"
            for st in s.steps
        )
        newest = s.newest_change or "-"
        if s.step_not_judged is not None:
            newest = f"{newest} ({s.step_not_judged})"
        if s.new_regression:
            newest = f"{newest} (regression)"
        roll = "-"
        if s.rolling is not None and s.rolling.time is not None:
            roll = f"{s.rolling.verdict} {format_time_cell(s.rolling.time)} n={s.rolling.time.n_baseline}/"
            roll += f"{s.rolling.time.n_current}" + "".join(f"; {n}" for n in s.rolling.notes if "not judged" in n)
        rows.append([s.run_key, str(len(s.points)), series, steps or "none", newest, roll])
    title = f"kbench history ({report.method}, min effect {report.min_effect * 100:g}%)"
    # the series (its newest points) and the run key are cut first; the steps and the verdicts never
    table = format_table(headers, rows, width=terminal_width(), shrink=[2, 0, 5])
    console.print(file_text(f"{title}\n{table}"))


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
    json_out: bool = pricing.JSON,
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
    with Stages("history") as stages:
        stages.stage(f"reading {len(files)} results file(s)")
        records = read_results(files)
        stages.stage(f"finding steps in {len({r.run_key for r in records})} series")
        report = build_history(
            records, min_effect=min_effect, min_size=min_points, baseline_last=last, thresholds=rules
        )
    if json_out:
        query = {
            "results": [str(p) for p in results],
            "min_effect": min_effect,
            "min_points": min_points,
            "baseline": baseline,
            "fail_on_new_step": fail_on_new_step,
        }
        notes = [f"steps found by {report.method}, smallest kept {report.min_effect * 100:g}%"]
        typer.echo(document("history", query, history_rows(report), notes))
    else:
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

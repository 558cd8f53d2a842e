"""CLI commands for the compare stage: ``kbench compare`` and ``kbench baseline save|show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from bench.cli import pricing
from bench.cli._common import file_text
from bench.cli.outputs import Output, check_outputs
from bench.cli.progress import Stages
from bench.cli.summaries import summary_outputs, write_summary
from bench.cli.tables import Footnotes, format_table, terminal_width, wrap_notes
from bench.errors import OutputError, RegressionFound, ResultsFormatError, located
from bench.text import first_few

if TYPE_CHECKING:
    from bench.compare.engine import CompareReport
    from bench.results import RunRecord

JSON_HELP = "Print the comparison as one JSON document (kbench-compare/1) instead of the table."

baseline_app = typer.Typer(help="Save or show the baseline file kept in the repository.", no_args_is_help=True)


def _result_files(path: Path) -> list[Path]:
    """A results file, or every ``*.jsonl`` file directly inside a folder."""
    if path.is_dir():
        try:
            files = sorted(p for p in path.glob("*.jsonl") if p.is_file())
        except OSError as exc:
            raise ResultsFormatError(located(f"cannot list the folder ({exc.strerror or exc})", file=path)) from None
        if not files:
            raise ResultsFormatError(located("folder holds no *.jsonl results files", file=path))
        return files
    return [path]


def _write_output(path: Path, text: str) -> None:
    """Write atomically (a temporary file renamed over the target), so a failure leaves no half file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(located(f"cannot write ({exc.strerror or exc})", file=path)) from None


def _print_report(console: Console, report: CompareReport) -> None:
    from bench.report.compare_render import format_seconds, format_time_cell, format_value_cell, summary_line

    if report.env_changes:
        console.print(file_text("Environment differences:", style="bold"))
        for ch in report.env_changes:
            console.print(file_text(f"  {ch}", style="yellow" if ch.blocking else ""))
    headers = [
        "verdict",
        "run",
        "median s/image",
        f"change [{report.confidence * 100:g}% CI]",
        "memory / energy",
        "notes",
    ]
    rows = []
    footnotes = Footnotes()
    for r in report.runs:
        med = (
            f"{format_seconds(r.time.baseline_median_s)} -> {format_seconds(r.time.current_median_s)}"
            if r.time
            else f"{r.baseline_status or '-'} -> {r.current_status or '-'}"
        )
        change = f"{format_time_cell(r.time)} n={r.time.n_baseline}/{r.time.n_current}" if r.time else ""
        vals = "; ".join(
            f"{v.field}: {format_value_cell(v)}" + (" OVER" if v.verdict == "regression" else "") for v in r.values
        )
        notes = "; ".join([*(str(c) for c in r.env_changes), *r.notes])
        rows.append([r.verdict, r.run_key, med, change, vals, footnotes.ref(notes)])
    # a run's notes (why it was not judged, what changed) are footnotes, wrapped whole: never cut in a cell
    table = format_table(headers, rows, width=terminal_width(), shrink=[1, 4])
    console.print(file_text("\n".join(["kbench compare", table, *wrap_notes(footnotes.lines())])))
    console.print(file_text(summary_line(report), style="bold red" if report.has_regression else "bold"))


def compare(
    baseline: Path = typer.Argument(..., help="Baseline results: a JSONL file or a folder of them."),
    current: Path = typer.Argument(..., help="Current results: a JSONL file or a folder of them."),
    threshold: list[str] = typer.Option(
        [],
        "--threshold",
        "-t",
        help="[SCOPE:]METRIC:VALUE, repeatable; metrics median, vram, rss, energy; e.g. median:5%, vram:256MB, "
        "'kandinsky-3|*:median:8%', rss:off. Defaults: median:5% vram:64MB rss:10% energy:5%.",
    ),
    thresholds_file: list[Path] = typer.Option([], "--thresholds", help="YAML thresholds file (defaults:, runs:)."),
    allow_env_mismatch: bool = typer.Option(
        False, "--allow-env-mismatch", help="Compare even across a different GPU model or weight source."
    ),
    markdown: Path | None = typer.Option(
        None, "--markdown-out", help="Write a markdown summary (for a CI job summary) to this file."
    ),
    markdown_legacy: Path | None = typer.Option(None, "--markdown", hidden=True, help="Old name of --markdown-out."),
    json_stdout: bool = typer.Option(False, "--json", help=JSON_HELP),
    json_out: Path | None = typer.Option(None, "--json-out", help="Write the comparison as JSON to this file."),
    summary: Path | None = typer.Option(None, "--summary", help="PR summary markdown (and a .png figure beside it)."),
    step_summary: bool = typer.Option(False, "--step-summary", help="Also append it to $GITHUB_STEP_SUMMARY."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.999, help="Two-sided confidence level."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (results are deterministic for a given seed)."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 when a run has too few samples to judge (default: say so, exit 0)."
    ),
) -> None:
    """Compare CURRENT results against BASELINE; exit 1 on a regression (or, with --strict, on a run it cannot
    judge for too few samples), 2 on bad input."""
    from bench.compare.engine import compare_records
    from bench.compare.stats import min_samples_for
    from bench.compare.thresholds import build_thresholds
    from bench.report.compare_render import render_compare_markdown, report_to_dict
    from bench.results import read_results

    markdown_option = "--markdown" if markdown is None and markdown_legacy is not None else "--markdown-out"
    markdown = markdown or markdown_legacy
    base_files, cur_files = _result_files(baseline), _result_files(current)
    outputs = [Output(o, p) for o, p in ((markdown_option, markdown), ("--json-out", json_out)) if p is not None]
    outputs += summary_outputs(summary, step_summary)
    check_outputs(outputs, [*base_files, *cur_files, *thresholds_file])
    rules = build_thresholds(threshold, thresholds_file)
    with Stages("compare") as stages:
        stages.stage("reading the results")
        base_records = read_results(base_files)
        cur_records = read_results(cur_files)
        stages.stage(f"comparing {len({r.run_key for r in cur_records})} run(s) (bootstrap intervals)")
        report = compare_records(
            base_records, cur_records, rules, allow_env_mismatch=allow_env_mismatch, confidence=confidence, seed=seed
        )
    data = report_to_dict(report) | {"baseline": str(baseline), "current": str(current)}
    if json_stdout:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_report(Console(), report)
    _write_pr_summary(report, base_records, cur_records, summary, step_summary)
    if markdown is not None:
        _write_output(markdown, render_compare_markdown(report))
    if json_out is not None:
        _write_output(json_out, json.dumps(data, indent=2) + "\n")
    if report.has_regression:
        keys = first_few([r.run_key for r in report.regressions])
        raise RegressionFound(f"{len(report.regressions)} regression(s): {keys}")
    if strict and report.not_judged:
        raise RegressionFound(
            f"--strict: {len(report.not_judged)} run(s) not judged for too few samples "
            f"(at least {min_samples_for(confidence, report.family)} a side): "
            f"{first_few([r.run_key for r in report.not_judged])}"
        )


def _write_pr_summary(
    report: CompareReport, base: list[RunRecord], cur: list[RunRecord], summary: Path | None, step_summary: bool
) -> None:
    """``--summary`` / ``--step-summary``: the PR summary with the noise floor measured on both sides."""
    if summary is None and not step_summary:
        return
    from bench.compare.noise import noise_floor
    from bench.report.summary_figures import change_figure
    from bench.report.summary_md import render_compare_summary

    noise = noise_floor(base, cur)
    render = lambda figure: render_compare_summary(report, noise, figure=figure)  # noqa: E731
    write_summary(summary, step_summary, render, lambda: change_figure(report))


@baseline_app.command("save")
def baseline_save(
    results: list[Path] = typer.Argument(..., help="Results files (or folders of *.jsonl) to store as the baseline."),
    to: Path = typer.Option(Path("benchmarks/baseline.jsonl"), "--to", help="Baseline file to write."),
    merge: bool = typer.Option(
        False, "--merge", help="Keep runs of the existing baseline that the new results do not contain."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing baseline (its runs are dropped)."),
) -> None:
    """Store results as the baseline (plus a .meta.json file beside it)."""
    from bench.compare.baseline import meta_path, save_baseline

    files = [f for p in results for f in _result_files(p)]
    check_outputs([Output("--to", to), Output("--to", meta_path(to))], files)
    if to.exists() and not (merge or force):
        raise OutputError(f"{to}: --to: a baseline exists; --merge adds to it, --force replaces it")
    meta = save_baseline(files, to, merge=merge)
    typer.echo(f"saved {meta.records} run(s), {meta.run_keys} run key(s) to {to} (metadata: {meta_path(to)})")


@baseline_app.command("show")
def baseline_show(
    path: Path = typer.Argument(Path("benchmarks/baseline.jsonl"), help="Baseline file."),
    json_out: bool = pricing.JSON,
) -> None:
    """Show a baseline's metadata and one line per run."""
    from bench.compare.baseline import show_baseline
    from bench.report.compare_render import format_seconds

    meta, rows = show_baseline(path)
    if json_out:
        from bench.cli.json_doc import document
        from bench.cli.json_rows import baseline_rows, baseline_source

        notes = [] if meta is not None else [f"{path}: no metadata file beside it"]
        source = baseline_source(meta, path)
        typer.echo(document("baseline show", {"path": str(path)}, baseline_rows(rows), notes, source=source))
        return
    console = Console()
    if meta is None:
        console.print(file_text(f"{path}: no metadata file beside it", style="yellow"))
    else:
        console.print(file_text(f"{path}: created {meta.created_at} by kbench {meta.kbench_version}"))
        console.print(file_text(f"  from: {', '.join(meta.sources)}"))
        for env in meta.environments:
            console.print(file_text("  env: " + ", ".join(f"{k}={v}" for k, v in env.items())))
    cells = [
        [
            r.run_key,
            r.status,
            str(r.n_samples),
            format_seconds(r.median_s_per_image) if r.median_s_per_image is not None else "-",
            f"{r.vram_peak_mb:.0f}" if r.vram_peak_mb is not None else "-",
            f"{r.energy_j_per_image:.3g}" if r.energy_j_per_image is not None else "-",
        ]
        for r in rows
    ]
    headers = ["run", "status", "n", "median s/image", "VRAM peak MB", "energy J/image"]
    console.print(file_text(f"{len(rows)} run(s)\n" + format_table(headers, cells, width=terminal_width(), shrink=[0])))


def register(app: typer.Typer) -> None:
    """Add ``compare`` and the ``baseline`` group to ``app``."""
    app.command("compare")(compare)
    app.add_typer(baseline_app, name="baseline")

"""CLI commands that run or inspect scenarios: ``run``, ``validate``."""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import TaskID
from rich.text import Text

from bench.cli.outputs import Output, check_results_output
from bench.cli.tables import format_table, terminal_width, wrap_notes
from bench.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNS_FAILED, KbenchError, ResultsWriteError, ScenarioError
from bench.optimise.quality import sweep_images_dir
from bench.results import RunRecord
from bench.results.peak import peak_memory
from bench.scenario import load_scenarios
from bench.scenario.expand import DEFAULT_MAX_RUNS
from bench.spec import RunSpec

DEFAULT_SCENARIO = "default.yaml"


def bundled_scenario(name: str = DEFAULT_SCENARIO) -> Path:
    """Path of a scenario shipped inside the package (the no-argument default of ``kbench run``)."""
    return Path(str(resources.files("bench").joinpath("scenarios").joinpath(name)))


def _resolve(paths: list[Path] | None) -> list[Path]:
    return paths or [bundled_scenario()]


def _plain_progress(
    event: str, index: int, total: int, spec: RunSpec, record: RunRecord | None, *, err: bool = False
) -> None:
    """A line per run start and end, on stdout (or stderr, where stdout holds a ``--json`` document)."""
    if event == "start":
        typer.echo(f"[{index}/{total}] {spec.run_key} ...", err=err)
    elif record is not None:
        detail = f"{record.summary.median_s_per_image:.4f} s/image" if record.summary else (record.reason or "")[:120]
        typer.echo(f"[{index}/{total}] {record.status}: {detail}", err=err)


class _RichProgress:
    """A live progress bar with ETA for terminals."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]kbench[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=console,
        )
        self.task: TaskID | None = None

    def __call__(self, event: str, index: int, total: int, spec: RunSpec, record: RunRecord | None) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(escape(spec.run_key), total=total)
        if event == "start":
            self.progress.update(self.task, description=escape(spec.run_key))
        else:
            self.progress.update(self.task, advance=1)
            if record is not None and record.status != "ok":  # reasons are text, never rich markup
                self.progress.console.print(Text(f"  {record.status}: {spec.run_key}: {(record.reason or '')[:160]}"))

    def stop(self) -> None:
        if self.task is not None:
            self.progress.stop()


def _peak_memory_text(r: RunRecord) -> str:
    peak = peak_memory(r)
    return peak.text() if peak else "—"


SUMMARY_HEADERS = [
    "model",
    "task",
    "lang",
    "resolution",
    "steps",
    "batch",
    "dtype",
    "memory",
    "status",
    "s/image",
    "p90",
    "images/s",
    "peak memory",
]
SUMMARY_SHRINK = [7, 0, 12]  # memory + speed settings, the model, a failure's reason: cut before anything else
SUMMARY_OPTIONAL = [10, 11]  # p90 and images/s follow from the runs' records and the report


def summary_table(records: list[RunRecord], width: int | None = None) -> str:
    """The compact end-of-run table (the one table renderer, sized to ``width``): one row per run, a failure
    with its reason; s/image is the median."""
    rows = []
    for r in records:
        s = r.spec
        workload = [
            s.model,
            s.task,
            s.language,
            s.resolution,
            str(s.steps),
            f"{s.batch_size}x{s.images_per_prompt}",
            s.dtype,
            f"{s.memory} {s.optimise.key_part}".strip(),  # speed settings, if any, beside the memory option
            r.status,
        ]
        if r.summary:
            numbers = [
                f"{r.summary.median_s_per_image:.4f}",
                f"{r.summary.p90_s_per_image:.4f}",
                f"{r.summary.images_per_s:.2f}",
                _peak_memory_text(r),
            ]
        else:
            numbers = ["—", "—", "—", (r.reason or "")[:60]]
        rows.append([*workload, *numbers])
    body = format_table(SUMMARY_HEADERS, rows, width=width, shrink=SUMMARY_SHRINK, optional=SUMMARY_OPTIONAL)
    return "kbench results\n" + body


def _latest_results(directory: Path) -> Path | None:
    files = sorted(directory.glob("kbench-*.jsonl"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def run_command(
    scenarios: list[Path] = typer.Argument(None, help="Scenario YAML files (default: the bundled tiny CPU scenario)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Results file (JSON lines). Default: results/kbench-<time>.jsonl"
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Skip runs already recorded in --out (or the newest results file)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs and exit."),
    timeout: float = typer.Option(
        None, "--timeout", min=1, help="Per-run time limit in seconds (overrides scenarios)."
    ),
    save_images: Path = typer.Option(None, "--save-images", help="Write the generated images as PNG here."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write an HTML/Markdown/CSV report of the results."),
    report_dir: Path = typer.Option(Path("reports"), "--report-dir", help="Where the report goes."),
    allow_failures: bool = typer.Option(
        False, "--allow-failures", help="Exit 0 even if some runs failed (probing limits)."
    ),
    max_runs: int = typer.Option(
        DEFAULT_MAX_RUNS, "--max-runs", min=1, help="Refuse scenarios that expand to more runs than this."
    ),
    executor: str = typer.Option("local", "--executor", help="local | gpus | ray (docs/scale-out.md)."),
    ray_address: str = typer.Option(None, "--ray-address", help="--executor ray: auto, ray://HOST:PORT."),
    ray_num_cpus: float = typer.Option(None, "--ray-num-cpus", help="--executor ray: CPUs each task reserves."),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON document of the runs on stdout instead of the table; progress on stderr."
    ),
) -> None:
    """Run scenarios: one child process per run, results appended as each run finishes."""
    paths = _resolve(scenarios)
    specs = load_scenarios(paths, max_runs=max_runs)
    from bench.cli.serve_run import dispatch_serve  # mode: serve scenarios run there and exit (docs/serving.md)

    dispatch_serve(paths, specs, out=out, dry_run=dry_run, resume=resume, allow_failures=allow_failures)
    if dry_run:
        for spec in specs:
            typer.echo(spec.run_key)
        typer.echo(f"{len(specs)} run(s) from {', '.join(str(p) for p in paths)}")
        return
    from bench.measure.executors import make_executor
    from bench.measure.runner import default_results_path

    sweep = make_executor(executor, ray_address=ray_address, ray_num_cpus=ray_num_cpus).sweep

    if resume and out is None:
        out = _latest_results(Path("results"))
        if out is None:
            raise ScenarioError("--resume: no results/kbench-*.jsonl to resume; pass --out FILE")
    results_path = out or default_results_path()
    if save_images is None and (kept := sweep_images_dir(specs, results_path)):
        save_images = kept  # speed settings: the quality guard compares each cell's images with the baseline's
    _check_outputs(paths, specs, results_path, save_images, report_dir if report else None)
    interactive = sys.stdout.isatty() and not json_out
    progress = _RichProgress(Console()) if interactive else None  # a live bar on a terminal; plain lines in logs
    say = functools.partial(typer.echo, err=json_out)  # with --json, stdout holds the document only
    started = time.perf_counter()
    try:
        outcome = sweep(
            specs,
            results_path,
            resume=resume,
            timeout_s=timeout,
            images_dir=save_images,
            progress=progress or functools.partial(_plain_progress, err=json_out),
        )
    finally:
        if progress is not None:
            progress.stop()
    elapsed = time.perf_counter() - started
    if outcome.records and not json_out:
        _emit(lambda: typer.echo(summary_table(outcome.records, terminal_width())))
    if outcome.resumed_skips:
        _emit(lambda: say(f"resume: {outcome.resumed_skips} run(s) already in {results_path} were skipped"))
    _emit(lambda: say(f"results: {results_path} ({len(outcome.records)} run(s) in {elapsed:.1f} s)"))
    resume_hint = f"kbench run {' '.join(map(str, paths))} --out {results_path} --resume"
    if outcome.write_error is not None:
        raise ResultsWriteError(
            f"{outcome.write_error}; the sweep stopped with {len(outcome.records)} run(s) recorded this time. "
            f"Make room, then: {resume_hint}"
        )
    terminated = outcome.interrupted and outcome.exit_code != EXIT_INTERRUPTED  # SIGTERM/SIGHUP: exit promptly
    written: list[Path] = []
    if report and not terminated and (outcome.records or outcome.resumed_skips) and results_path.exists():
        written = _write_report(results_path, report_dir, say)
    if not outcome.interrupted:
        _emit(lambda: say("\n".join(wrap_notes(next_steps(outcome.records, results_path).splitlines()))))
    if json_out:
        doc = run_document(paths, results_path, outcome.records, written, next_steps(outcome.records, results_path))
        _emit(lambda: typer.echo(doc))
    if outcome.interrupted:
        _emit(lambda: typer.echo(f"interrupted: resume with  {resume_hint}", err=True))
        raise typer.Exit(outcome.exit_code or EXIT_INTERRUPTED)
    if outcome.failed and not allow_failures:
        typer.echo(f"{len(outcome.failed)} run(s) failed (oom/error/timeout); see {results_path}", err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)
    raise typer.Exit(EXIT_OK)


def _emit(show: Callable[[], object]) -> None:
    """Print after a sweep; a terminal closed under us (SIGHUP) must not turn kept results into a crash."""
    with contextlib.suppress(OSError):
        show()


def _check_outputs(
    paths: list[Path], specs: list[RunSpec], results: Path, images: Path | None, report_dir: Path | None
) -> None:
    """Every path the sweep will write is writable and none is an input, before the first run starts."""
    from bench.cli.commands_report import SUFFIXES

    inputs = [*paths, *{Path(s.prompt_set) for s in specs if s.prompt_set != "default"}]
    extra = [Output("--save-images", images, "dir")] if images is not None else []
    if report_dir is not None:
        stem = report_dir / results.stem
        extra.append(Output("--report-dir", report_dir, "dir"))
        extra.extend(Output("--report-dir", stem.with_name(stem.name + suffix)) for suffix in SUFFIXES)
    check_results_output(results, inputs, extra)


def run_document(
    paths: list[Path], results: Path, records: list[RunRecord], written: list[Path], next_step: str
) -> str:
    """``kbench run --json``: the runs of this sweep, the files written, and what the timings can say."""
    from bench.cli.json_doc import document
    from bench.cli.json_rows import run_rows

    query = {"scenarios": [str(p) for p in paths], "results": str(results), "report": [str(p) for p in written]}
    return document("run", query, run_rows(records), [" ".join(line.split()) for line in [next_step]])


def _write_report(results_path: Path, report_dir: Path, say: Callable[[str], object] = typer.echo) -> list[Path]:
    from bench.cli.commands_report import write_report

    try:
        written = write_report([results_path], report_dir / results_path.stem)
    except KbenchError as exc:
        raise type(exc)(f"{exc} (the results are safe in {results_path}; kbench report writes the report)") from None
    _emit(lambda: say(f"report: {', '.join(str(p) for p in written)}"))
    return list(written)


def next_steps(records: list[RunRecord], results_path: Path) -> str:
    """What the numbers just printed can and cannot say, and the command to run next.

    Tiny or random weights measure that the pipeline runs, not what a real model costs: the line says so and
    points to the projection for the full-size model (``recommend``) instead of leaving the timings to be read
    as an answer.
    """
    ok = [r for r in records if r.ok]
    if not ok:
        return "next: kbench validate FILE checks a scenario; kbench run FILE --dry-run lists its runs"
    first = ok[0].spec
    if any(r.spec.weights != "hub" for r in ok):
        return (
            f"note: {'/'.join(sorted({r.spec.weights for r in ok if r.spec.weights != 'hub'}))} weights time the "
            "pipeline, not the real model; for what a GPU costs:\n"
            f"  kbench recommend --model {first.model} --resolution {first.width}x{first.height} --memory auto"
        )
    return f"next: kbench recommend --results {results_path} --model {first.model} --memory auto"


def validate_command(
    scenarios: list[Path] = typer.Argument(..., help="Scenario YAML files to check."),
    max_runs: int = typer.Option(
        DEFAULT_MAX_RUNS, "--max-runs", min=1, help="Refuse scenarios that expand to more runs than this."
    ),
) -> None:
    """Check scenario files without running anything (exit 2 with one line on the first error).

    Each file is checked on its own: two files that define the same run are each valid (they are refused only
    when run together), so that is a note naming both files, not an error.
    """
    from bench.scenario.load import load_scenario_file

    first: dict[str, Path] = {}
    shared: dict[tuple[Path, Path], int] = {}
    total = 0
    for path in scenarios:
        specs = load_scenario_file(path, max_runs=max_runs)
        total += len(specs)
        for spec in specs:
            earlier = first.setdefault(spec.run_key, path)
            if earlier != path:
                shared[(earlier, path)] = shared.get((earlier, path), 0) + 1
    typer.echo(f"ok: {len(scenarios)} file(s), {total} run(s)")
    for (a, b), n in shared.items():
        typer.echo(f"note: {n} run(s) of {b} are also in {a}; kbench run refuses the two files together")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("run")(run_command)
    app.command("validate")(validate_command)

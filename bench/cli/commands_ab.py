"""``kbench ab``: two revisions on one machine, interleaved (ABBA), compared with the grouped statistics."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from bench.cli._common import fail
from bench.cli.commands_compare import JSON_HELP
from bench.cli.outputs import MIN_FREE_RUN, Output, check_outputs, looks_like_results
from bench.cli.summaries import summary_outputs, write_summary
from bench.errors import EXIT_RUNS_FAILED, OutputError, RegressionFound, located
from bench.text import first_few

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bench.ab import AbReport, Side
    from bench.results import RunRecord
    from bench.spec import RunSpec


@dataclass(frozen=True)
class Talk:
    """Where ``ab`` says what it is doing: stdout, or stderr under ``--json`` (stdout holds the one document)."""

    json_stdout: bool = False

    def say(self, line: str) -> None:
        print(line, file=sys.stderr if self.json_stdout else sys.stdout, flush=True)

    def progress(
        self, event: str, index: int, total: int, spec: RunSpec, side: Side, rnd: int, record: RunRecord | None
    ) -> None:
        where = f"[{index}/{total}] round {rnd} {side.name}"
        if event == "start":
            self.say(f"{where}: {spec.run_key} ...")
        elif record is not None:
            summary = record.summary
            detail = f"{summary.median_s_per_image:.4g} s/image" if summary else (record.reason or "")[:160]
            self.say(f"{where}: {record.status} {detail}")


def _print(console: Console, report: AbReport) -> None:
    from bench.cli.commands_compare import _print_report

    for line in report.sides:
        console.print(Text(line, style="dim"))
    for d in report.parity.differences:
        console.print(Text(f"sides differ: {d}", style="yellow"))
    for e in report.parity.events:
        console.print(Text(f"between rounds: {e}", style="yellow"))
    _print_report(console, report.compare)


def _default_output() -> Path:
    return Path("results") / f"ab-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"


def _check_results(results: Path, inputs: list[Path], extra: list[Output], option: str = "--out") -> None:
    """The results file (``--out``) is new or empty and writable, and the other outputs writable; errors name the
    option as the user spelled it (``--output``, its old name, still works)."""
    output = Output(option, results)
    check_outputs([output, *extra], inputs, min_free=MIN_FREE_RUN)
    if not looks_like_results(results):
        raise OutputError(
            located("exists and is not a kbench results file; give a new file", file=results, field=option)
        )
    if results.exists() and results.stat().st_size > 0:
        raise OutputError(
            located("exists and holds records; kbench ab writes a new results file", file=results, field=option)
        )


def _no_measurement(records: Sequence[RunRecord]) -> str | None:
    """Why no comparison can be made when neither side measured anything (every run failed); else None.

    ``compare`` calls a run failing on both sides "still failing", not a regression: without this, a job
    whose every run crashed would pass.
    """
    if any(r.ok for r in records):
        return None
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "no records"
    first = next((r.reason for r in records if r.reason), None)
    why = f"; first: {first[:200]}" if first else ""
    return f"no side produced a measurement: every run of base and head failed ({counts}){why}"


def ab(
    scenario: Path | None = typer.Argument(None, help="Scenario file whose runs both sides measure."),
    base: str | None = typer.Option(None, "--base", help="Base revision (commit, branch, tag) of --repo."),
    head: str | None = typer.Option(None, "--head", help="Head revision of --repo."),
    repo: Path = typer.Option(Path("."), "--repo", help="The git repository under test (default: here)."),
    rounds: int | None = typer.Option(
        None,
        "--rounds",
        help="Interleaved rounds (ABBA order), one process per side and run each. Default: the fewest that can "
        "carry a verdict at --confidence (4 at 95%).",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Results file for both sides (new or empty). Default: results/ab-<time>.jsonl"
    ),
    output: Path | None = typer.Option(None, "--output", hidden=True, help="Old name of --out."),
    clean: bool = typer.Option(False, "--clean", help="Remove the sides' worktrees and environments afterwards."),
    base_python: str | None = typer.Option(None, "--base-python", help="Interpreter of the base side."),
    head_python: str | None = typer.Option(None, "--head-python", help="Interpreter of the head side."),
    base_diffusers: str | None = typer.Option(
        None, "--base-diffusers", help="diffusers version or requirement for base (a venv per side)."
    ),
    head_diffusers: str | None = typer.Option(None, "--head-diffusers", help="diffusers version or requirement."),
    base_hub: list[str] = typer.Option([], "--base-hub", help="ROLE=DIR model directory or hub id for base."),
    head_hub: list[str] = typer.Option([], "--head-hub", help="ROLE=DIR model directory or hub id for head."),
    venv: bool = typer.Option(False, "--venv", help="A virtual environment per side with the worktree installed."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Where worktrees and environments are kept."),
    threshold: list[str] = typer.Option([], "--threshold", "-t", help="As kbench compare, e.g. median:5%."),
    thresholds_file: list[Path] = typer.Option([], "--thresholds", help="YAML thresholds file."),
    timeout: float | None = typer.Option(None, "--timeout", min=1, help="Seconds per run (default: the scenario's)."),
    summary: Path | None = typer.Option(None, "--summary", help="Markdown summary (and a .png figure beside it)."),
    step_summary: bool = typer.Option(False, "--step-summary", help="Also append it to $GITHUB_STEP_SUMMARY."),
    json_stdout: bool = typer.Option(False, "--json", help=JSON_HELP + " Progress goes to stderr."),
    json_out: Path | None = typer.Option(None, "--json-out", help="Write the comparison as JSON to this file."),
    recompare: Path | None = typer.Option(None, "--recompare", help="Redo the comparison of an A/B results file."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.999, help="Two-sided confidence level."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 when a run has too few processes or samples to judge (default: say so, exit 0)."
    ),
) -> None:
    """Measure SCENARIO on --base and --head alternately on this machine; exit 1 on a regression of head (or, with
    --strict, on a run it cannot judge for too few processes or samples)."""
    from bench.ab import AbError, SideRequest, ab_report, clean_sides, run_interleaved
    from bench.ab.plan import parse_hub, plan_ab, prepare_sides
    from bench.compare.stats import min_samples_for
    from bench.compare.thresholds import build_thresholds
    from bench.results import read_results

    talk = Talk(json_stdout)
    extra = [Output("--json-out", json_out)] if json_out is not None else []
    extra += summary_outputs(summary, step_summary)
    rules = build_thresholds(threshold, thresholds_file)
    console = Console()

    def finish(report: AbReport, records: Sequence[RunRecord]) -> None:
        why = _no_measurement(records)
        _finish(console, report, summary, step_summary, json_out, why, strict=strict, json_stdout=json_stdout)

    if recompare is not None:
        check_outputs(extra, [recompare, *thresholds_file])
        records = read_results([recompare])
        report = ab_report(records, rules, confidence=confidence, seed=seed, source=str(recompare))
        finish(report, records)
        return
    if scenario is None:
        raise AbError("SCENARIO: give a scenario file (or --recompare RESULTS)")
    requests = (
        SideRequest("base", base, base_python, base_diffusers, parse_hub(base_hub, "--base-hub"), venv),
        SideRequest("head", head, head_python, head_diffusers, parse_hub(head_hub, "--head-hub"), venv),
    )
    results = out or output or _default_output()
    _check_results(results, [scenario, *thresholds_file], extra, "--output" if out is None and output else "--out")
    plan = plan_ab(scenario, *requests, repo=repo, rounds=1 if rounds is None else rounds, cache_dir=cache_dir)
    need = min_samples_for(confidence, len(plan.specs))  # the scenario's runs are judged together
    if rounds is None:
        rounds = need
        plan = dataclasses.replace(plan, rounds=rounds)
    if need > rounds:
        why = (
            "one process per side: the noise between processes is not measured"
            if rounds == 1
            else f"{rounds} processes a side cannot show a change at {confidence:.0%} (the verdict on time needs "
            f"{need}): runs will be 'not judged'"
        )
        typer.echo(f"kbench: warning: --rounds {rounds}: {why}; use {need} or more", err=True)
    sides = prepare_sides(plan)
    described = tuple(s.describe() for s in sides.values())
    for line in described:
        talk.say(line)
    try:
        outcome = run_interleaved(list(plan.specs), sides, rounds, results, timeout_s=timeout, progress=talk.progress)
    finally:
        if clean:
            for path in clean_sides(plan.root, list(sides.values())):
                talk.say(f"removed {path}")
    talk.say(f"results: {results} ({len(outcome.records)} record(s))")
    if outcome.write_error is not None:
        typer.echo(f"kbench: error: {outcome.write_error}", err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)
    if outcome.interrupted:
        typer.echo("kbench: interrupted: the comparison was not made; finished records are kept", err=True)
        raise typer.Exit(outcome.exit_code)
    report = ab_report(outcome.records, rules, confidence=confidence, seed=seed, sides=described)
    finish(report, outcome.records)


def _finish(
    console: Console,
    report: AbReport,
    summary: Path | None,
    step_summary: bool,
    json_out: Path | None,
    no_measurement: str | None = None,
    *,
    strict: bool = False,
    json_stdout: bool = False,
) -> None:
    """Print (the table, or with ``json_stdout`` the JSON document) and write the comparison; exit 3 when no side
    measured anything, 1 on a regression of head, and with ``strict`` 1 when a run could not be judged."""
    from bench.compare.stats import min_samples_for
    from bench.report.compare_render import report_to_dict
    from bench.report.summary_figures import change_figure
    from bench.report.summary_md import render_ab_summary

    if not json_stdout:
        _print(console, report)
    write_summary(
        summary,
        step_summary,
        lambda figure: render_ab_summary(report, figure=figure),
        lambda: change_figure(report.compare),
    )
    data = report_to_dict(report.compare) | {
        "ab": {
            "rounds": report.rounds,
            "order": [list(o) for o in report.order],
            "noise_floor": report.noise,
            "sides": list(report.sides),
            "side_differences": [str(d) for d in report.parity.differences],
            "round_events": [str(e) for e in report.parity.events],
        }
    }
    if json_stdout:
        typer.echo(json.dumps(data, indent=2))
    if json_out is not None:
        from bench.cli.commands_compare import _write_output

        _write_output(json_out, json.dumps(data, indent=2) + "\n")
    if no_measurement is not None:
        fail(no_measurement, EXIT_RUNS_FAILED)
    if report.has_regression:
        keys = ", ".join(r.run_key for r in report.compare.regressions[:3])
        raise RegressionFound(f"head is slower: {len(report.compare.regressions)} regression(s): {keys}")
    if strict and report.not_judged:
        keys = first_few([r.run_key for r in report.not_judged])
        raise RegressionFound(
            f"--strict: {len(report.not_judged)} run(s) not judged for too few processes or samples "
            f"(at least {min_samples_for(report.compare.confidence, report.compare.family)} a side): {keys}"
        )


def register(app: typer.Typer) -> None:
    """Add ``ab`` to ``app``."""
    app.command("ab")(ab)

"""``kbench run`` for ``mode: serve`` scenarios: start the servers, drive them, write the serving records and
their report.

Serving records go to their own JSONL file (default ``results/kbench-<time>.serve.jsonl``; ``--out`` names
it), never into an isolated-run results file. The report goes where an isolated run's goes
(``--report-dir``/NAME.html, .md, .csv, checked before the first request and replaced by the next run of the
same results file, as there) and shows each measured point beside the simulator's prediction from the same
server's calls. The run ends as an isolated one does: what it wrote, a caveat for tiny or random weights, the
next command. The $ per image at the SLO is priced here, where the cost room is in reach, and handed to the serve
room as a function (:data:`bench.serve.records.PriceFn`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bench.cli.outputs import MIN_FREE_RUN, Output, check_outputs
from bench.cli.tables import format_table, terminal_width, wrap_notes
from bench.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNS_FAILED,
    KbenchError,
    OutputError,
    ScenarioError,
    clip,
    located,
)
from bench.results.serving import MIN_P99_REQUESTS, ServeRecord, max_rate_text
from bench.serve.records import PriceFn, SloPrice, serve_key
from bench.spec import RunSpec

if TYPE_CHECKING:
    from bench.cost.prices.book import PriceBook
    from bench.cost.serving.measured import ServerComparison
    from bench.cost.serving.section import ServingSection
    from bench.serve.runner import ServeOutcome, ServePlan

SERVE_SUFFIX = ".serve.jsonl"

# ``kbench run`` options of the isolated sweep that a serve run cannot honour: the option, and why or what to
# use instead. Refused, not ignored: a user who asked for a time limit or saved images must not think they had one.
NOT_FOR_SERVE: dict[str, tuple[str, str]] = {
    "timeout": (
        "--timeout",
        "set serve.request_timeout_s (each request) and serve.duration_s (each load point) in the scenario",
    ),
    "save_images": ("--save-images", "the server's images are not kept"),
    "executor": ("--executor", "the server and its load run on this machine (only local applies)"),
    "ray_address": ("--ray-address", "the server and its load run on this machine"),
    "ray_num_cpus": ("--ray-num-cpus", "the server and its load run on this machine"),
    "json_out": ("--json", "a serve run's points are in its results file and its report's CSV"),
}


def given_options() -> dict[str, object]:
    """The options of the running command given on its command line (or environment), by parameter name.

    Read from the command's context, which typer keeps with its own copy of click (``typer.main`` names the
    lookup); empty outside a command (a library call), where nothing was asked for that could be ignored. A
    caller that has the options at hand passes them to :func:`dispatch_serve` instead.
    """
    import typer.main

    lookup = getattr(typer.main, "get_current_context", None)
    ctx = lookup(silent=True) if callable(lookup) else None
    if ctx is None:
        return {}
    given: dict[str, object] = {}
    for name, value in ctx.params.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT"):
            given[name] = value
    return given


def check_serve_options(options: Mapping[str, object]) -> None:
    """Refuse the given ``kbench run`` options that do not apply to a serve scenario, one line naming the first.

    ``--executor local`` asks for what a serve run does anyway, so it passes; ``--report/--no-report`` and
    ``--report-dir`` apply (:func:`report_dir`).

    Raises:
        ScenarioError: an option of the isolated sweep was given (exit code 2).
    """
    for name, (flag, why) in NOT_FOR_SERVE.items():
        if name not in options or options[name] is None:
            continue
        value = options[name]
        if name == "executor" and value == "local":
            continue
        shown = f" {value:g}" if isinstance(value, float) else ""
        shown = f" {clip(str(value), 80)}" if isinstance(value, (str, Path)) else shown
        raise ScenarioError(f"{flag}{shown}: does not apply to serve scenarios; {why}")


def slo_pricer(book: PriceBook) -> PriceFn:
    """The $ per image at a served rate, priced from ``book`` (the same price every other command shows)."""

    def price_at_rate(spec: RunSpec, env: dict[str, object], images_per_s: float) -> SloPrice | None:
        """$ per image when one GPU serves ``images_per_s``: the book's price of the GPU the server ran on.

        ``None`` on a CPU or a GPU the catalog does not list or the policy leaves unpriced. Seconds per image
        are ``1 / images_per_s`` (the GPU is rented whether busy or not, so the served rate, not the call
        time, sets the price of an image).
        """
        from bench.cost.costs import usd_per_image

        name = env.get("gpu_name")
        if not isinstance(name, str) or images_per_s <= 0:
            return None
        gpu = book.gpu_for_device(name)
        price = gpu.cheapest_price() if gpu is not None else None  # the book's GPUs carry the chosen price only
        if gpu is None or price is None:
            return None
        usd = usd_per_image(1.0 / images_per_s, price.usd_per_hour)
        return SloPrice(
            gpu=gpu.id,
            usd_per_hour=price.usd_per_hour,
            usd_per_image=usd,
            source=f"{price.label()}, {price.date}, {price.source}",
        )

    return price_at_rate


def report_dir(options: Mapping[str, object]) -> Path | None:
    """Where the run's report goes, from the ``kbench run`` options given: ``--report-dir`` (default
    ``reports``, as for an isolated run), or None for ``--no-report``."""
    from bench.cli.commands_report import DEFAULT_DIR

    if options.get("report") is False:
        return None
    where = options.get("report_dir")
    return Path(where) if isinstance(where, (str, Path)) else DEFAULT_DIR


def _check_out(path: Path, inputs: Sequence[Path], reports: Path | None) -> None:
    """The results file and the report's files can be written and are not inputs, before the first request."""
    from bench.cli.commands_report import report_paths

    output = Output("--out", path)
    extra = []
    if reports is not None:
        extra = [Output("--report-dir", reports, "dir")]
        extra += [Output("--report-dir", p) for p in report_paths(reports / path.stem)]
    check_outputs([output, *extra], inputs, min_free=MIN_FREE_RUN)
    with contextlib.suppress(FileNotFoundError):
        head = path.read_bytes()[:64].lstrip()
        if head and not head.startswith(b'{"record_type":"serve'):
            raise OutputError(
                located("exists and is not a kbench serving results file; refusing to append to it", file=path)
            )


POINT_HEADERS = ["configuration", "load", "phase", "status", "ok/sent", "p50 s", "p90 s", "p99 s", "req/s", "SLO"]


def points_table(points: Sequence[ServeRecord], width: int | None = None) -> str:
    """The load points (the one table renderer, sized to ``width``): a p99 only where 100 requests completed
    (``n<100`` otherwise), the SLO verdict, and ``not judged`` where too few requests could neither meet nor
    miss it. The configuration is cut first, then the phase; the load and the numbers never."""
    rows = []
    for r in points:
        load = f"{r.offered_rate_per_s:g}/s" if r.offered_rate_per_s is not None else f"c={r.concurrency}"
        load += f" (asked {r.asked_rate_per_s:g})" if r.asked_rate_per_s is not None else ""
        lat = r.latency
        p99 = "—" if lat is None else (f"{lat.p99_s:.3f}" if lat.p99_s is not None else f"n<{MIN_P99_REQUESTS}")
        judged = r.slo_p99_s is not None and r.status == "ok"
        slo = ("not judged" if judged else "—") if r.slo_ok is None else ("ok" if r.slo_ok else "missed")
        rows.append(
            [
                r.serve_key,
                load,
                r.phase,
                r.status,
                f"{r.completed}/{r.sent}",
                *(f"{v:.3f}" if lat else "—" for v in ((lat.p50_s, lat.p90_s) if lat else (0, 0))),
                p99,
                f"{r.achieved_rate_per_s:.3f}",
                slo,
            ]
        )
    return "kbench serving\n" + format_table(POINT_HEADERS, rows, width=width, shrink=[0, 2])


def point_notes(points: Sequence[ServeRecord]) -> list[str]:
    """One line per point whose achieved rate differs from the offered one, saying why (``rate_note``)."""
    return [f"  {r.offered_rate_per_s:g}/s ({r.phase}): {r.rate_note}"[:400] for r in points if r.rate_note]


def check_serve_keys(plans: Sequence[ServePlan]) -> None:
    """Every ``serve.api_key_env`` names a variable that holds a key now, before any load point runs.

    Raises:
        ScenarioError: one line naming the scenario file, the scenario and the variable (never its value).
    """
    from bench.serve.openai_wire import MissingKey, endpoint_auth

    for plan in plans:
        try:
            endpoint_auth(plan.serve)
        except MissingKey as exc:
            where = f"{plan.spec.scenario_file}: scenario {plan.spec.scenario!r}"
            raise ScenarioError(f"{where}: {exc}; export it before the run (the key is never written)") from None


def dispatch_serve(
    paths: Sequence[Path],
    specs: Sequence[RunSpec],
    *,
    out: Path | None,
    dry_run: bool,
    resume: bool,
    allow_failures: bool,
    options: Mapping[str, object] | None = None,
) -> None:
    """Run the files' serve scenarios and exit; return at once when they have none (an isolated sweep).

    ``options``: the other ``kbench run`` options given, by parameter name (default: read from the running
    command); those of the isolated sweep are refused (:func:`check_serve_options`).
    """
    from bench.serve.plans import serve_plans

    plans = serve_plans(paths, specs)
    if not plans:
        return
    given = given_options() if options is None else options
    check_serve_options(given)
    if dry_run:
        for plan in plans:
            s = plan.serve
            load = f"rates {s.rates}" if s.rates is not None else f"concurrency {s.concurrency}"
            typer.echo(f"{serve_key(plan.spec, s)}  {load}")
        typer.echo(f"{len(plans)} serving configuration(s) from {', '.join(str(p) for p in paths)}")
        raise typer.Exit(EXIT_OK)
    if resume:
        raise ScenarioError("--resume: applies to isolated runs; a serve scenario runs its load points again")
    check_serve_keys(plans)
    from bench.measure.runner import default_results_path
    from bench.serve.runner import run_serve

    default = default_results_path()
    results = out or default.with_name(default.stem + SERVE_SUFFIX)
    reports = report_dir(given)
    _check_out(results, [*paths, *{Path(s.prompt_set) for s in specs if s.prompt_set != "default"}], reports)
    from bench.cost.prices.book import load_price_book

    outcome = run_serve(plans, results, price=slo_pricer(load_price_book()), progress=lambda line: typer.echo(line))
    terminated = outcome.interrupted and outcome.exit_code != EXIT_INTERRUPTED  # SIGTERM/SIGHUP: exit promptly
    written: list[Path] = []
    section: ServingSection | None = None
    error: KbenchError | None = None
    if reports is not None and not terminated and outcome.points and results.exists():
        from bench.cli.commands_report import write_serving_report

        try:
            written, section = write_serving_report([results], reports / results.stem)
        except KbenchError as exc:  # the records are safe; say so once the rest is printed
            error = type(exc)(
                f"{exc} (the results are safe in {results}; kbench report --serve FILE writes the report)"
            )
    with contextlib.suppress(OSError):
        _print_outcome(outcome, section)
        typer.echo(f"serving results: {results} ({len(outcome.points)} load point(s))")
        if written:
            typer.echo(f"report: {', '.join(str(p) for p in written)}")
        if not outcome.interrupted:
            _say(*closing_lines(outcome.points))
    if error is not None:
        raise error
    if outcome.interrupted:
        raise typer.Exit(outcome.exit_code)
    if outcome.failed and not allow_failures:
        typer.echo(f"{len(outcome.failed)} load point(s) failed; see {results}", err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)
    raise typer.Exit(EXIT_OK)


def _say(*lines: str) -> None:
    """Notes and answers wrapped to the terminal's width, a command on a line of its own kept whole."""
    for line in lines:
        typer.echo("\n".join(wrap_notes(line.split("\n"))))


def _print_outcome(outcome: ServeOutcome, section: ServingSection | None) -> None:
    """The points table, why achieved rates differ from offered ones, and each max rate at the SLO: measured (the
    search's bracket) and, where the report was written, simulated from the same server's calls."""
    if outcome.points:
        typer.echo(points_table(outcome.points, terminal_width()))
    _say(*point_notes(outcome.points))
    simulated = {s.serve_key: s for s in section.servers} if section is not None else {}
    for slo in outcome.slos:
        usd = f", ${slo.usd_per_image_at_slo:.5f}/image on {slo.gpu}" if slo.usd_per_image_at_slo else ""
        answer = max_rate_text(slo)
        judged = slo.max_rate_at_slo_per_s is not None or slo.highest_failing_rate_per_s is not None
        unfinished = "" if slo.search_complete or not judged else f" (search {slo.status}: {slo.reason})"
        _say(f"max rate at p99 <= {slo.slo_p99_s:g} s, measured: {answer}{usd}{unfinished}"[:600])
        if (sim := simulated_line(simulated.get(slo.serve_key))) is not None:
            _say(sim)


def simulated_line(server: ServerComparison | None) -> str | None:
    """The simulator's max rate at the SLO for the same server, from its own calls, with how it was computed."""
    if server is None or server.slo_p99_s is None:
        return None
    sim = server.simulated_slo
    head = f"max rate at p99 <= {server.slo_p99_s:g} s, simulated from the server's calls: "
    if sim is None or sim.max_rate_per_s is None or sim.point is None:
        return (head + f"none ({server.simulated_slo_note})")[:600]
    band = f" ({sim.rate_sampling[0]:.3g}-{sim.rate_sampling[1]:.3g})" if sim.rate_sampling else ""
    return (
        head + f"{sim.max_rate_per_s:.3g} req/s{band}, p99 there {sim.point.p99_s:.3g} s; {sim.point.basis.text()}"
    )[:600]


def closing_lines(points: Sequence[ServeRecord]) -> list[str]:
    """What the figures just printed can and cannot say, and the command to run next (as an isolated run ends).

    Tiny or random weights time the serving path, not the real model: the line says so and points to the
    simulator on real GPUs for the same workload (``recommend --slo-p99``). Points too short for a p99 are said
    once, with what would judge them.
    """
    ok = [p for p in points if p.status == "ok"]
    if not ok:
        return [
            "next: kbench validate FILE checks a scenario; kbench run FILE --dry-run lists its serving configurations"
        ]
    spec = ok[0].spec
    slo = next((p.slo_p99_s for p in ok if p.slo_p99_s is not None), None)
    command = f"kbench recommend --model {spec.model} --resolution {spec.width}x{spec.height} --steps {spec.steps}"
    command += f" --slo-p99 {slo:g} --rate auto" if slo is not None else " --memory auto"
    lines = []
    short = min(p.completed for p in ok)
    if short < MIN_P99_REQUESTS:
        lines.append(
            f"note: {short} completed requests at a point give no p99 and cannot show an SLO met; "
            f"serve.max_requests of {MIN_P99_REQUESTS} or more can"
        )
    toy = sorted({p.spec.weights for p in ok if p.spec.weights != "hub"})
    if toy:
        weights = "/".join(toy)
        lines.append(
            f"note: {weights} weights time the serving path, not the real model; for a GPU's answer:\n  {command}"
        )
    else:
        lines.append(f"next: {command} (the simulator on every GPU for the workload this server ran)")
    return lines


__all__ = [
    "NOT_FOR_SERVE",
    "SERVE_SUFFIX",
    "check_serve_keys",
    "check_serve_options",
    "closing_lines",
    "dispatch_serve",
    "given_options",
    "point_notes",
    "points_table",
    "report_dir",
    "simulated_line",
    "slo_pricer",
]

"""``kbench sky plan`` and ``kbench sky collect``: measure a scenario on candidate GPUs before renting one.

``plan`` writes one SkyPilot task file per candidate GPU and prints what the measurement campaign will cost
(:mod:`bench.sky.campaign`); ``collect`` merges the results files that come back (:mod:`bench.sky.collect`),
which ``kbench recommend --results`` and ``kbench report`` then read. See docs/scale-out.md.
"""

from __future__ import annotations

from pathlib import Path

import typer

import bench
from bench.cli import pricing
from bench.cli.commands_cost import COUNTED_ONCE
from bench.cli.outputs import Output, check_outputs
from bench.cli.progress import Stages
from bench.cli.tables import format_table, markdown, terminal_width, wrap_notes
from bench.cost.catalog import Catalog
from bench.cost.prices.book import load_price_book
from bench.cost.prices.policy import DEFAULT_MAX_AGE_DAYS
from bench.errors import KbenchError
from bench.results import read_results
from bench.scenario import load_scenarios
from bench.sky.accelerators import SkyAccelerator, parse_accelerator_overrides, sky_accelerator
from bench.sky.campaign import DEFAULT_SETUP_MINUTES, GpuCampaign, Span, estimate_campaign, top_gpus
from bench.sky.plan import (
    DEFAULT_DISK_GB,
    DEFAULT_TORCH_INDEX,
    STORES,
    PlanOptions,
    check_bucket,
    launch_commands,
    render_task,
    slug,
    task_document,
)
from bench.sky.ship import Shipment, plan_shipment
from bench.text import printable


def resolve_gpu(catalog: Catalog, name: str) -> str:
    """A catalog id from ``--gpu``: the id itself, or a prefix that names one GPU (``a100-80gb``)."""
    if name in catalog.gpus:
        return name
    matches = sorted(g for g in catalog.gpus if g.startswith(name))
    if len(matches) == 1:
        return matches[0]
    detail = f"it could be {', '.join(matches)}" if matches else f"known: {', '.join(sorted(catalog.gpus))}"
    raise KbenchError(f"--gpu {name}: not one catalog GPU; {detail}")


def _project_dir(project: Path | None) -> Path:
    root = project or Path(bench.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file() or not (root / "bench").is_dir():
        raise KbenchError(f"--project: {root} is not a kandinsky-bench checkout (no pyproject.toml and bench/)")
    return root


def _span(span: Span, fmt: str) -> str:
    return f"{fmt.format(span.mid)} ({fmt.format(span.low)}-{fmt.format(span.high)})"


def plan_command(
    scenario: Path = typer.Argument(..., help="The scenario file to measure on each candidate GPU."),
    gpu: list[str] = typer.Option([], "--gpu", help="A candidate catalog GPU (repeatable; a unique prefix will do)."),
    top: int = typer.Option(0, "--top", min=0, help="Or: the N GPUs recommend ranks cheapest for the scenario."),
    out: Path = typer.Option(
        ..., "--out", metavar="DIR", help="Folder for the task files (and, later, the returned results)."
    ),
    bucket: str | None = typer.Option(None, "--bucket", help="Write results to this bucket (SkyPilot storage)."),
    store: str = typer.Option("s3", "--store", help=f"The bucket's store: {'|'.join(STORES)}."),
    project: Path | None = typer.Option(None, "--project", help="The checkout synced as workdir (default: this one)."),
    accelerator: list[str] = typer.Option([], "--accelerator", help="GPU_ID=SKYPILOT_NAME (repeatable)."),
    setup_minutes: float = typer.Option(
        DEFAULT_SETUP_MINUTES,
        "--setup-minutes",
        min=0.0,
        max=1440.0,
        help="Minutes each machine takes to start and install torch and the project (billed, not measured).",
    ),
    disk_gb: int = typer.Option(DEFAULT_DISK_GB, "--disk-gb", min=20, max=65536, help="Disk of each machine (GB)."),
    torch_index: str = typer.Option(DEFAULT_TORCH_INDEX, "--torch-index", help="pip index of the CUDA torch."),
    spot: bool = typer.Option(False, "--spot", help="Ask for spot instances (a restarted task resumes)."),
    results: list[Path] = typer.Option([], "--results", help="Earlier results that measure or calibrate."),
    price: list[str] = typer.Option([], "--price", help="Override a price: GPU_ID=USD_PER_HOUR (repeatable)."),
    as_markdown: bool = pricing.MARKDOWN,
    json_out: bool = pricing.JSON,
) -> None:
    """Write a SkyPilot task per candidate GPU and print the campaign's projected minutes and dollars."""
    if bool(gpu) == bool(top):
        raise KbenchError("sky plan: give candidate GPUs with --gpu (repeatable) or --top N, one of the two")
    if bucket is not None:
        try:
            check_bucket(bucket)
        except ValueError as exc:
            raise KbenchError(f"--bucket: {exc}") from None
    if store not in STORES:
        raise KbenchError(f"--store: {store!r} is not a SkyPilot store; allowed: {', '.join(STORES)}")
    workdir = _project_dir(project)
    specs = load_scenarios([scenario])
    prices = load_price_book(None, price, pricing.make_policy(None, None, DEFAULT_MAX_AGE_DAYS, []))
    records = read_results(results) if results else []
    catalog = prices.priced
    with Stages("sky plan") as stages:  # counting a new workload takes seconds: a stage line each after 2 s
        stages.stage(f"projecting {len(specs)} run(s) on the candidate GPUs ({COUNTED_ONCE})")
        ids = [resolve_gpu(catalog, g) for g in gpu] if gpu else top_gpus(specs, catalog, top, records)
        ids = list(dict.fromkeys(ids))
        overrides = parse_accelerator_overrides(accelerator)
        accels = {g: sky_accelerator(g, overrides) for g in ids}
        name = slug(scenario.stem)
        files = {g: out / f"kbench-{name}-{slug(g)}.yaml" for g in ids}
        shipment = plan_shipment(scenario, specs)
        copy = out / f"kbench-{name}.scenario.yaml" if shipment.rewritten else None  # '.': never a task file's name
        outputs = [
            Output("--out", out, "dir"),
            *(Output("--out", f) for f in [*files.values(), *([copy] if copy else [])]),
        ]
        shipped = [p for p in shipment.inputs.values() if p.is_file()]
        check_outputs(outputs, [scenario, *results, *shipped])
        campaigns = []
        for i, g in enumerate(ids, start=1):
            stages.stage(f"projecting the campaign on {g} ({i}/{len(ids)})")
            campaigns.append(
                estimate_campaign(specs, catalog, g, records, setup_minutes=setup_minutes, gpus=accels[g].gpus)
            )
    opts = PlanOptions(workdir, bucket, store, torch_index, disk_gb, use_spot=spot)
    try:
        documents = {
            g: task_document(scenario, scenario.stem, g, accels[g], opts, source=copy, inputs=shipment.inputs)
            for g in ids
        }
    except ValueError as exc:  # a path SkyPilot cannot copy safely: before any file is written
        raise KbenchError(f"sky plan: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    if copy is not None and shipment.scenario_text is not None:
        copy.write_text(shipment.scenario_text, encoding="utf-8")
    launches: dict[str, list[str]] = {}
    for g in ids:
        files[g].write_text(render_task(documents[g]), encoding="utf-8")
        launches[g] = launch_commands(files[g], documents[g], out / "results", bucket)
    notes = [*_shipment_notes(shipment, copy), prices.note()]
    if json_out:
        from bench.cli.json_doc import Label, document
        from bench.cli.json_rows import sky_plan_rows

        query = {"scenario": str(scenario), "gpus": ids, "top": top or None, "out": str(out), "spot": spot}
        labels: dict[str, Label] = {
            g: "live" if (c := prices.choices.get(g)) and c.origin == "live" else "catalog" for g in ids
        }
        rows = sky_plan_rows(campaigns, accels, files, launches, labels)
        typer.echo(document("sky plan", query, rows, [*_plan_notes(campaigns, accels, notes), *_next(out)]))
        return
    _print_plan(campaigns, accels, files, [c for g in ids for c in launches[g]], notes, as_markdown)


def _shipment_notes(shipment: Shipment, copy: Path | None) -> list[str]:
    """What each task uploads besides the project, said before anyone pays for the upload."""
    if copy is None:
        return []
    n = shipment.total_bytes
    size = next((f"{n / f:,.1f} {unit}" for f, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")) if n >= f), f"{n} B")
    return [
        f"each task also ships {len(shipment.inputs)} file(s) or folder(s) the scenario references ({size}, "
        f"uploaded from here), and mounts {copy.name}, the scenario naming them where they are mounted"
    ]


def _print_plan(
    campaigns: list[GpuCampaign],
    accels: dict[str, SkyAccelerator],
    files: dict[str, Path],
    commands: list[str],
    more_notes: list[str],
    as_markdown: bool,
) -> None:
    headers = ["gpu", "accelerator", "runs", "oom", "minutes (low-high)", "$/h", "$ (low-high)", "task file"]
    rows = []
    total_min = total_usd = Span(0.0, 0.0, 0.0)
    for c in campaigns:
        usd = c.usd
        total_min = total_min + c.minutes
        total_usd = total_usd + usd if usd is not None else total_usd
        accel = accels[c.gpu_id]
        rows.append(
            [
                c.gpu_id,
                accel.resources,
                str(c.runs),
                str(c.oom_runs),
                _span(c.minutes, "{:.0f}"),
                f"{c.usd_per_hour:.2f}" if c.usd_per_hour is not None else "—",
                _span(usd, "{:.2f}") if usd is not None else "no price",
                files[c.gpu_id].name,
            ]
        )
    rows.append(["total", "", "", "", _span(total_min, "{:.0f}"), "", _span(total_usd, "{:.2f}"), ""])
    notes = _plan_notes(campaigns, accels, more_notes)
    if as_markdown:
        typer.echo(markdown(headers, rows, notes))
    else:
        typer.echo(format_table(headers, rows, width=terminal_width(), shrink=[7]))
        typer.echo("\n".join(wrap_notes(notes)))
    typer.echo("\nthen, per GPU:\n" + "\n".join(f"  {c}" for c in commands))
    typer.echo("\n".join(f"  {c}" for c in _next(next(iter(files.values())).parent)))


def _plan_notes(campaigns: list[GpuCampaign], accels: dict[str, SkyAccelerator], more: list[str]) -> list[str]:
    return [
        f"minutes include {campaigns[0].setup_minutes:g} min of set-up per GPU; runs are projected unless a record "
        "measured them (--results); oom: runs whose workload does not fit that GPU (they cost their load only)",
        *(f"{g}: {a.note}" for g, a in accels.items() if a.note),
        *(
            f"{g}: {a.resources} rents {a.gpus} GPU(s) a machine; $/h is for all of them (kbench run measures on one)"
            for g, a in accels.items()
            if a.count != "1"
        ),
        *more,
    ]


def _next(folder: Path) -> list[str]:
    """The commands after the tasks have run: merge what came back, then rank on it."""
    return [
        f"kbench sky collect {folder} --out {folder}/merged.jsonl",
        f"kbench recommend --results {folder}/merged.jsonl --model MODEL ...",
    ]


def collect_command(
    directory: Path = typer.Argument(..., help="The folder the returned results files are in (searched recursively)."),
    out: Path = typer.Option(..., "--out", help="The merged results file to write (must not exist)."),
    json_out: bool = pricing.JSON,
) -> None:
    """Merge returned results files (validated, each record once) into a new results file.

    Everything printed that came from the returned files (their names, the GPU names and other text in their
    records, and the errors and warnings that quote them) goes through :func:`bench.text.printable`: a file
    from a rented machine must not drive the terminal with escape sequences.
    """
    from bench.sky.collect import collect, results_files

    check_outputs([Output("--out", out)], results_files(directory, out))
    done = collect(directory, out)  # its errors and warnings are printed through printable (bench.cli._common)
    if json_out:
        from bench.cli.json_doc import document
        from bench.cli.json_rows import sky_collect_rows

        merged_note = f"merged: {done.out} ({done.records} record(s) from {len(done.files)} file(s))"
        query = {"directory": str(directory), "out": str(out)}
        notes = [
            merged_note,
            f"next: kbench recommend --results {done.out} --model MODEL ...  |  kbench report {done.out}",
        ]
        typer.echo(document("sky collect", query, sky_collect_rows(done, directory), notes))
        return
    rows = [
        [
            printable(str(f.path.relative_to(directory))),
            str(f.records),
            str(f.duplicates),
            printable(", ".join(f"{n} {s}" for s, n in sorted(f.statuses.items()))),
            printable(", ".join(sorted(f.gpus))) or "—",
        ]
        for f in done.files
    ]
    typer.echo(format_table(["file", "records", "repeats", "statuses", "GPU (NVML)"], rows, width=terminal_width()))
    merged = printable(str(done.out))
    typer.echo(f"merged: {merged} ({done.records} record(s) from {len(done.files)} file(s))")
    typer.echo(f"next: kbench recommend --results {merged} --model MODEL ...  |  kbench report {merged}")


def register(app: typer.Typer) -> None:
    """Add ``sky plan`` and ``sky collect`` to ``app``."""
    sky_app = typer.Typer(help="Measure before you rent: SkyPilot tasks per candidate GPU.", no_args_is_help=True)
    sky_app.command("plan")(plan_command)
    sky_app.command("collect")(collect_command)
    app.add_typer(sky_app, name="sky")


__all__ = ["collect_command", "plan_command", "register", "resolve_gpu"]

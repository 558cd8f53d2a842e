"""CLI commands for the cost stage: gpus, cost, recommend (flops and compare-models: :mod:`.commands_counting`)."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bench.cli import pricing
from bench.cli.progress import Stages
from bench.cost.prices.book import load_price_book
from bench.errors import KbenchError, ScenarioError, clip
from bench.spec import Workload

if TYPE_CHECKING:
    from bench.cost.catalog import Catalog

COUNTED_ONCE = "the first time only: counts are cached"

_CATALOG = pricing.CATALOG
_PRICE = pricing.PRICE
_PROVIDER = pricing.PROVIDER


def gpus_command(
    catalog: Path | None = _CATALOG,
    price: list[str] = _PRICE,
    provider: list[str] = _PROVIDER,
    prices: bool = typer.Option(True, "--prices/--no-prices", help="List every price with its date and source."),
    tier: str | None = pricing.TIER,
    price_stat: str | None = pricing.PRICE_STAT,
    max_price_age: float = pricing.MAX_PRICE_AGE,
    json_out: bool = pricing.JSON,
    markdown: bool = pricing.MARKDOWN,
) -> None:
    """List the GPU catalog: specs, the price the policy uses, and every listed price with its date and source."""
    from bench.cli.cost_views import gpus_json, gpus_text

    chosen = load_price_book(catalog, price, pricing.make_policy(tier, price_stat, max_price_age, provider))
    typer.echo(
        gpus_json(chosen) if json_out else gpus_text(chosen, listed=prices, as_markdown=markdown), nl=not json_out
    )


def _warn_foreign_timings(records: list[Any], gpu: str) -> None:
    """``--gpu`` prices a record's own seconds at that GPU's rate: say so where the seconds are not that GPU's.

    A CPU run's or a tiny-weight run's time says nothing about a full-size model on the GPU named, so the
    product is a price of the wrong seconds; the line points to the projection that answers the question.
    """
    from bench.cost.record_gpu import ran_on_cpu
    from bench.results.registered import stands_for_registered

    foreign = [r for r in records if r.ok and (ran_on_cpu(r) or not stands_for_registered(r))]
    if foreign:
        warnings.warn(
            f"--gpu {gpu}: {len(foreign)} of the records ran on the CPU or with tiny/random-architecture weights; "
            f"their seconds are priced at {gpu}'s rate as asked, but they are not {gpu}'s seconds. For what "
            f"{gpu} would take: kbench recommend --model {foreign[0].spec.model} --gpu {gpu}",
            stacklevel=2,
        )


def cost_command(
    results: list[Path] = typer.Argument(..., help="Result JSONL files."),
    gpu: str | None = typer.Option(None, "--gpu", help="Price every result on this catalog GPU."),
    session_images: int = typer.Option(
        pricing.DEFAULT_SESSION_IMAGES,
        "--session-images",
        "--amortise-images",
        min=1,
        help="Cost a session of N images: model load, warmup and billing included.",
    ),
    session_hours: float | None = pricing.SESSION_HOURS,
    usd_per_kwh: float | None = typer.Option(None, "--usd-per-kwh", min=0.0, help="Electricity price for energy."),
    catalog: Path | None = _CATALOG,
    price: list[str] = _PRICE,
    provider: list[str] = _PROVIDER,
    tier: str | None = pricing.TIER,
    price_stat: str | None = pricing.PRICE_STAT,
    max_price_age: float = pricing.MAX_PRICE_AGE,
    json_out: bool = pricing.JSON,
    markdown: bool = pricing.MARKDOWN,
) -> None:
    """$ per image, per 1000 images, images per $, a session's full cost, energy and the hour/day/4-hour table."""
    from bench.cli.cost_views import cost_json, cost_text
    from bench.cost.costs import cost_rows
    from bench.cost.prices.providers import billing_for
    from bench.results import read_results

    session = pricing.make_session(None if session_hours else session_images, session_hours)
    chosen = load_price_book(catalog, price, pricing.make_policy(tier, price_stat, max_price_age, provider))
    records = read_results(results)
    if gpu is not None:
        _warn_foreign_timings(records, gpu)
    rows = cost_rows(
        records,
        chosen.priced,
        gpu_id=gpu,
        usd_per_kwh=usd_per_kwh,
        session=session,
        billing_for=lambda p: billing_for(p.provider),
    )
    if not rows:
        raise KbenchError("no ok results to cost in " + ", ".join(map(str, results)))
    label = pricing.session_label(session)
    if json_out:
        query = {
            "results": [str(r) for r in results],
            "gpu": gpu,
            "session": label,
            "price_policy": chosen.policy.describe(),
        }
        typer.echo(cost_json(rows, query, [chosen.note()]))
        return
    typer.echo(cost_text(rows, label, markdown, [chosen.note()]), nl=False)


def _workload(
    model: str, task: str, resolution: str, steps: int | None, batch: int, dtype: str, memory: str
) -> Workload:
    from bench.models.registry import get_model
    from bench.scenario import check_outpaint, check_resolution
    from bench.spec import DEFAULT_OUTPAINT_EXPAND, DTYPES, MEMORY_OPTIONS, parse_resolution

    spec = get_model(model)
    if task not in spec.tasks:
        raise ScenarioError(f"--task: {model} does not support {task!r}; it supports {', '.join(spec.tasks)}")
    if dtype not in DTYPES:
        raise ScenarioError(f"--dtype: must be {', '.join(DTYPES)}, got {clip(dtype)}")
    if memory not in MEMORY_OPTIONS:
        raise ScenarioError(f"--memory: must be {', '.join(MEMORY_OPTIONS)}, got {clip(memory)}")
    try:
        width, height = parse_resolution(resolution) if resolution else spec.default_resolution
        check_resolution(model, width, height)
    except ValueError as exc:
        raise ScenarioError(f"--resolution: {str(exc).removeprefix('resolutions: ')}") from None
    if task == "outpaint":  # the canvas (source + the default margins) must be a size the model renders
        try:
            check_outpaint(model, width, height, (DEFAULT_OUTPAINT_EXPAND,) * 4, 0, "--task outpaint")
        except ValueError as exc:
            raise ScenarioError(f"--resolution: {exc}") from None
    return Workload(
        model=model,
        task=task,
        width=width,
        height=height,
        steps=steps or spec.default_steps,
        batch_size=batch,
        dtype=dtype,
        memory=memory,
    )


def recommend_command(
    model: str = pricing.MODEL,
    task: str = pricing.TASK,
    resolution: str = pricing.RESOLUTION,
    steps: int | None = pricing.STEPS,
    batch: int = pricing.BATCH,
    dtype: str = pricing.DTYPE,
    tf32: bool = typer.Option(
        False, "--tf32", help="With --dtype fp32: matmuls on TF32 tensor cores (Ampere and later), as torch allows."
    ),
    memory: str = typer.Option(
        "auto",
        "--memory",
        help="auto (the fastest option that fits each GPU), none, model_cpu_offload, "
        "sequential_cpu_offload or attention_slicing.",
    ),
    max_s_per_image: float | None = typer.Option(
        None, "--max-s-per-image", min=0.0, help="Only GPUs at most this many seconds per image."
    ),
    max_usd_per_hour: float | None = typer.Option(
        None, "--max-usd-per-hour", min=0.0, help="Only GPUs at most this price per GPU-hour."
    ),
    min_headroom_gb: float = typer.Option(
        0.0, "--min-headroom-gb", min=0.0, help="VRAM to keep free beyond the estimate (GiB)."
    ),
    include_unpriced: bool = typer.Option(False, "--include-unpriced", help="Also list GPUs without a price."),
    results: list[Path] = typer.Option([], "--results", help="Result files that measure or calibrate."),
    gpu: list[str] = typer.Option([], "--gpu", help="Only these catalog GPUs (repeatable)."),
    top: int = typer.Option(0, "--top", min=0, help="Show only the N cheapest (0: all)."),
    guide_vram: bool = typer.Option(True, "--guide-vram/--no-guide-vram", help="Check the guide's VRAM table."),
    catalog: Path | None = _CATALOG,
    price: list[str] = _PRICE,
    provider: list[str] = _PROVIDER,
    tier: str | None = pricing.TIER,
    price_stat: str | None = pricing.PRICE_STAT,
    max_price_age: float = pricing.MAX_PRICE_AGE,
    session_images: int | None = pricing.SESSION_IMAGES,
    session_hours: float | None = pricing.SESSION_HOURS,
    json_out: bool = pricing.JSON,
    markdown: bool = pricing.MARKDOWN,
    slo_p99: float | None = typer.Option(None, "--slo-p99", help="Serve at this p99 latency (s); rank by $/image."),
    rate: str | None = typer.Option(None, "--rate", help="With --slo-p99: requests/s to serve, or auto (max rate)."),
    max_batch: int = typer.Option(1, "--max-batch", help="With --slo-p99: the server's dynamic batching limit."),
    arrivals: str = typer.Option("poisson", "--arrivals", help="With --slo-p99: poisson or constant arrivals."),
) -> None:
    """Rank GPUs for a workload by $ per 1000 images, with VRAM fit, seconds per image and price source."""
    from bench.cli import recommend_slo as slo
    from bench.cli import recommend_view as view
    from bench.cli.json_doc import document
    from bench.cost.recommend import Constraints
    from bench.cost.recommendation import recommend_gpus
    from bench.results import read_results

    target = slo.check_options(slo_p99, rate, max_batch, arrivals, batch) if slo_p99 is not None else None
    if slo_p99 is None and (rate is not None or max_batch != 1):
        raise ScenarioError("--rate and --max-batch: only with --slo-p99 SECONDS")
    if tf32 and dtype != "fp32":
        raise ScenarioError(f"--tf32: changes fp32 matmuls only; --dtype is {dtype}")
    session = pricing.make_session(session_images, session_hours)
    prices = load_price_book(catalog, price, pricing.make_policy(tier, price_stat, max_price_age, provider))
    cat = prices.priced
    for gpu_id in gpu:
        cat.get(gpu_id)
    auto = memory == "auto"
    work = _workload(model, task, resolution, steps, batch, dtype, "none" if auto else memory)
    constraints = Constraints(
        max_s_per_image=max_s_per_image,
        max_usd_per_hour=max_usd_per_hour,
        min_headroom_gb=min_headroom_gb,
        require_price=not include_unpriced,
        price_policy=prices.policy.describe(),
    )
    records = read_results(results) if results else []
    with Stages("recommend") as stages:
        stages.stage(f"counting {work.model} {work.resolution} on the meta device ({COUNTED_ONCE})")
        answer = recommend_gpus(
            work,
            prices,
            records,
            constraints=constraints,
            gpu_ids=gpu or None,
            memory_auto=auto,
            session=session,
            tf32=tf32,
        )
        every = list(answer.rows)
        rows = every[: top or None]
        label = pricing.session_label(session)
        notes = list(answer.notes)
        if guide_vram:
            stages.stage("checking the guide's VRAM table")
            notes += _guide_notes(cat, work.model)
        if slo_p99 is not None:
            stages.stage(f"simulating a server at p99 <= {slo_p99:g} s on {len(every)} GPU(s)")
            served = slo.serve_at_slo(
                every, work, cat, answer.index, slo_p99=slo_p99, rate=target, max_batch=max_batch, arrivals=arrivals,
                min_headroom_gb=min_headroom_gb, providers=None,
            )[: top or None]  # fmt: skip
    query = view.query(work, auto, prices.policy.describe(), label, tf32)
    if slo_p99 is not None:
        q = {**query, "slo_p99_s": slo_p99, "rate": rate or "auto"}
        if json_out:
            typer.echo(document("recommend", q, slo.json_rows(served, view.json_rows(every)), notes))
            return
        head = f"{view.title(work, auto, label, tf32)}, served at p99 <= {slo_p99:g} s"
        text = slo.render(served, head, notes, slo_p99=slo_p99, rate=target, max_batch=max_batch, as_markdown=markdown)
        typer.echo(text, nl=False)
        return
    if json_out:
        typer.echo(document("recommend", query, view.json_rows(rows), notes))
        return
    text = view.render_text(
        rows, view.title(work, auto, label, tf32), notes, session=session is not None, as_markdown=markdown
    )
    typer.echo(text, nl=False)


def _guide_notes(catalog: Catalog, model: str) -> list[str]:
    """The guide's VRAM rows of ``model`` checked against the estimates (only that model's rows are counted)."""
    from bench.cost.recommend import check_guide_vram

    rows = [r for r in catalog.guide_vram if r.model == model]
    notes: list[str] = []
    for c in check_guide_vram(dataclasses.replace(catalog, guide_vram=rows)) if rows else []:
        est = ", ".join(f"{d}+{m} {v:.1f}" for (d, m), v in c.estimates_gib.items())
        notes.append(f"guide VRAM {c.row.label} ({c.row.resolution}): guide {c.row.vram_gb:g} GB -> {c.verdict}")
        notes.append(f"  estimates (GiB): {est}")
    return notes


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("gpus")(gpus_command)
    app.command("cost")(cost_command)
    app.command("recommend")(recommend_command)

"""CLI commands for the cost stage: gpus, cost, recommend, flops, compare-models."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer

from bench.cli import pricing
from bench.cli.tables import format_table, terminal_width, wrap_notes
from bench.cost.prices.book import load_price_book
from bench.errors import KbenchError, ScenarioError, clip
from bench.spec import Workload

_CATALOG = typer.Option(None, "--catalog", help="Your own GPU YAML, merged over the bundled catalog.")
_PRICE = typer.Option([], "--price", help="Override a price: GPU_ID=USD_PER_HOUR (repeatable).")
_PROVIDER = typer.Option([], "--provider", help="Only prices from providers containing this (repeatable).")


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
        1000, "--session-images", "--amortise-images", min=1, help="Session of N images: load, warmup, billing."
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
    memory: str = typer.Option(
        "auto",
        "--memory",
        help="auto (the fastest option that fits each GPU), none, model_cpu_offload, "
        "sequential_cpu_offload or attention_slicing.",
    ),
    max_s_per_image: float | None = typer.Option(None, "--max-s-per-image", min=0.0),
    max_usd_per_hour: float | None = typer.Option(None, "--max-usd-per-hour", min=0.0),
    min_headroom_gb: float = typer.Option(0.0, "--min-headroom-gb", min=0.0),
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
    from bench.cost.recommend import Constraints, check_guide_vram
    from bench.cost.recommendation import recommend_gpus
    from bench.results import read_results

    target = slo.check_options(slo_p99, rate, max_batch, arrivals, batch) if slo_p99 is not None else None
    if slo_p99 is None and (rate is not None or max_batch != 1):
        raise ScenarioError("--rate and --max-batch: only with --slo-p99 SECONDS")
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
    answer = recommend_gpus(
        work, prices, records, constraints=constraints, gpu_ids=gpu or None, memory_auto=auto, session=session
    )
    every = list(answer.rows)
    rows = every[: top or None]
    label = pricing.session_label(session)
    notes = list(answer.notes)
    if guide_vram:
        for c in (c for c in check_guide_vram(cat) if c.row.model == work.model):
            est = ", ".join(f"{d}+{m} {v:.1f}" for (d, m), v in c.estimates_gib.items())
            notes.append(f"guide VRAM {c.row.label} ({c.row.resolution}): guide {c.row.vram_gb:g} GB -> {c.verdict}")
            notes.append(f"  estimates (GiB): {est}")
    if slo_p99 is not None:
        served = slo.serve_at_slo(
            every, work, cat, answer.index, slo_p99=slo_p99, rate=target, max_batch=max_batch, arrivals=arrivals,
            min_headroom_gb=min_headroom_gb, providers=None,
        )[: top or None]  # fmt: skip
        q = {**view.query(work, auto, prices.policy.describe(), label), "slo_p99_s": slo_p99, "rate": rate or "auto"}
        if json_out:
            typer.echo(document("recommend", q, slo.json_rows(served, view.json_rows(every)), notes))
            return
        head = f"{view.title(work, auto, label)}, served at p99 <= {slo_p99:g} s"
        text = slo.render(served, head, notes, slo_p99=slo_p99, rate=target, max_batch=max_batch, as_markdown=markdown)
        typer.echo(text, nl=False)
        return
    if json_out:
        typer.echo(
            document("recommend", view.query(work, auto, prices.policy.describe(), label), view.json_rows(rows), notes)
        )
        return
    text = view.render_text(
        rows, view.title(work, auto, label), notes, session=session is not None, as_markdown=markdown
    )
    typer.echo(text, nl=False)


def flops_command(
    model: list[str] = typer.Option([], "--model", help="Model ids (default: all)."),
    resolution: list[str] = typer.Option([], "--resolution", help="WIDTHxHEIGHT (repeatable; default: the model's)."),
    steps: int | None = pricing.STEPS,
    batch: int = pricing.BATCH,
    dtype: str = pricing.DTYPE,
    json_out: bool = pricing.JSON,
    markdown: bool = pricing.MARKDOWN,
) -> None:
    """FLOPs and bytes per image by stage for the full-size models, counted on the meta device."""
    from bench.cost.counting.ops import METHOD
    from bench.cost.counting.rows import flops_table
    from bench.models.callplan import K3_CONTEXT_TOKENS, K5_PROMPT_TOKENS, K5_TEMPLATE_TOKENS
    from bench.models.registry import known_models
    from bench.report.format import markdown_table
    from bench.spec import STAGES

    workloads: list[Workload] = []
    for m in model or known_models():
        for res in resolution or [""]:
            workloads.append(_workload(m, "text2img", res, steps, batch, dtype, "none"))
    counted = flops_table(workloads)
    method = (
        f"Method: {METHOD} for every component. Prompt-length assumptions: FLUX.1 T5 at max_sequence_length "
        f"(dev 512, schnell 256); Kandinsky 5 {K5_PROMPT_TOKENS} prompt tokens (+{K5_TEMPLATE_TOKENS} template "
        f"tokens in Qwen2.5-VL); Kandinsky 3 {K3_CONTEXT_TOKENS} context tokens; CLIP encoders 77."
    )
    if json_out:
        from bench.cli.cost_views import flops_json

        typer.echo(flops_json(counted, [method]))
        return
    rows = []
    for r in counted:
        w = r.workload
        rows.append(
            [
                w.model,
                w.resolution,
                str(w.steps),
                str(w.images_per_call),
                *(f"{r.stage_tflops[s]:.2f}" for s in STAGES),
                f"{r.total_tflops:.1f}",
                f"{r.total_gb:.0f}",
                f"{r.denoiser_call_tflops:.3f}"
                + (f" x{r.denoiser_calls_per_step}" if r.denoiser_calls_per_step > 1 else ""),
                f"{r.weights_gb:.1f}",
            ]
        )
    headers = ["model", "res", "steps", "batch", *(f"{s} TF" for s in STAGES), "total TF", "moved GB",
               "denoiser call TF", "weights GB"]  # fmt: skip
    intro = (
        "Per image, classifier-free guidance included (denoiser call = one UNet/transformer call as the pipeline "
        "makes it: 2x batch under CFG, or 'x2' calls per step for Kandinsky 5; FLUX.1 has no CFG pass):"
    )
    typer.echo(intro if markdown else "\n".join(wrap_notes([intro])))
    # at a narrow width the per-stage detail goes first: the totals and the rows' labels stay
    optional = [headers.index(h) for h in ("denoiser call TF", "moved GB", "weights GB")]
    optional += [headers.index(f"{s} TF") for s in reversed(STAGES)]
    typer.echo(
        markdown_table(headers, rows)
        if markdown
        else format_table(headers, rows, width=terminal_width(), optional=optional)
    )
    typer.echo(method if markdown else "\n".join(wrap_notes([method])))


def compare_models_command(
    gpu: list[str] = typer.Option(..., "--gpu", help="Catalog GPU id for seconds and $ (repeatable; see kbench gpus)."),
    model: list[str] = typer.Option([], "--model", help="Model ids (repeatable; default: every registry model)."),
    resolution: str = typer.Option("", "--resolution", help="WIDTHxHEIGHT for every model (default: each model's)."),
    steps: int | None = typer.Option(None, "--steps", min=1, max=1000, help="Steps (default: each model's)."),
    dtype: str = typer.Option("fp16", "--dtype", help="fp16, bf16 or fp32."),
    results: list[Path] = typer.Option([], "--results", help="Result files that measure or calibrate cells."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a GitHub markdown table."),
    catalog: Path | None = _CATALOG,
    price: list[str] = _PRICE,
    provider: list[str] = _PROVIDER,
    tier: str | None = pricing.TIER,
    price_stat: str | None = pricing.PRICE_STAT,
    max_price_age: float = pricing.MAX_PRICE_AGE,
    json_out: bool = pricing.JSON,
) -> None:
    """Compare models: VRAM per memory option, s/image and $ per 1000 images per GPU, tasks, prompt languages."""
    from bench.cost.model_comparison import compare_models
    from bench.report.model_table import render_markdown_table, table_cells, table_notes
    from bench.results import read_results
    from bench.spec import parse_resolution

    try:
        size = parse_resolution(resolution) if resolution else None
    except ValueError as exc:
        raise ScenarioError(f"--resolution: {exc}") from None
    chosen = load_price_book(catalog, price, pricing.make_policy(tier, price_stat, max_price_age, provider))
    rows = compare_models(
        chosen.priced,
        gpu,
        models=model or None,
        resolution=size,
        steps=steps,
        dtype=dtype,
        records=read_results(results) if results else (),
    )
    if json_out:
        from bench.cli.cost_views import compare_models_json

        query = {"gpus": gpu, "models": model, "resolution": resolution or None, "steps": steps, "dtype": dtype}
        query["price_policy"] = chosen.policy.describe()
        typer.echo(compare_models_json(rows, chosen, query, [*table_notes(rows), chosen.note()]))
        return
    if markdown:
        typer.echo(render_markdown_table(rows), nl=False)
        return
    headers, body = table_cells(rows)
    # at a narrow width the languages, tasks, the offload VRAM and the steps/dtype go first, the costs last:
    # the row labels (model, size) always stay (--wide: every column)
    first = [i for i, h in enumerate(headers) if h in ("ru", "zh", "de", "tasks", "steps", "dtype")]
    vram = [i for i, h in enumerate(headers) if h.startswith("VRAM") and not h.endswith("none")]
    optional = [*reversed(first), *reversed(vram), *range(len(headers) - 1, 1, -1)]
    optional = list(dict.fromkeys(optional))
    typer.echo(format_table(headers, body, width=terminal_width(), optional=optional))
    typer.echo("\n".join(wrap_notes([f"  {note}" for note in [*table_notes(rows), chosen.note()]])))


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("gpus")(gpus_command)
    app.command("cost")(cost_command)
    app.command("recommend")(recommend_command)
    app.command("flops")(flops_command)
    app.command("compare-models")(compare_models_command)

"""CLI commands for the cost stage: gpus, cost, recommend, flops, compare-models."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.cost.catalog import Catalog, load_catalog, parse_price_overrides
from bench.errors import KbenchError, ScenarioError
from bench.spec import Workload

_CATALOG = typer.Option(None, "--catalog", help="Your own GPU YAML, merged over the bundled catalog.")
_PRICE = typer.Option([], "--price", help="Override a price: GPU_ID=USD_PER_HOUR (repeatable).")
_PROVIDER = typer.Option([], "--provider", help="Only prices from providers containing this (repeatable).")


def _catalog(catalog: Path | None, price: list[str]) -> Catalog:
    return load_catalog(catalog, parse_price_overrides(price))


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Plain-text table with right-aligned numbers; no terminal width games, so it pipes cleanly."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            numeric = cell[:1].isdigit() or (cell[:1] in "$-.+" and cell[1:2].isdigit())
            out.append(cell.rjust(width) if numeric else cell.ljust(width))
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _money(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"${value:.{digits}f}"


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def gpus_command(
    catalog: Path | None = _CATALOG,
    price: list[str] = _PRICE,
    provider: list[str] = _PROVIDER,
    prices: bool = typer.Option(True, "--prices/--no-prices", help="List every price with its date and source."),
) -> None:
    """List the GPU catalog: specs, the cheapest price, and every price with its date and source."""
    cat = _catalog(catalog, price)
    rows = []
    for gpu in cat.gpus.values():
        p = gpu.cheapest_price(provider or None)
        rows.append(
            [
                gpu.id,
                gpu.name,
                gpu.arch,
                _num(gpu.vram_gb, "g"),
                _num(gpu.bandwidth_gbs, "g"),
                _num(gpu.fp16_tensor_tflops, "g"),
                _num(gpu.fp32_tflops, "g"),
                _num(gpu.tdp_w, "g"),
                _money(p.usd_per_hour, 3) if p else "-",
                p.label() if p else "-",
                p.date if p else "-",
            ]
        )
    headers = ["id", "name", "arch", "VRAM GB", "BW GB/s", "FP16 TF", "FP32 TF", "TDP W", "$/h", "provider", "date"]
    typer.echo(format_table(headers, rows))
    if prices:
        price_rows = [
            [gpu.id, p.label(), _money(p.usd_per_hour, 3), p.date, p.source]
            for gpu in cat.gpus.values()
            for p in sorted(gpu.prices, key=lambda q: q.usd_per_hour)
        ]
        typer.echo("\nPrices (USD per GPU-hour; date published or observed; source):")
        typer.echo(format_table(["gpu", "provider", "$/h", "date", "source"], price_rows))
    typer.echo(f"\n{len(cat.gpus)} GPUs from {', '.join(cat.files)}")


def cost_command(
    results: list[Path] = typer.Argument(..., help="Result JSONL files."),
    gpu: str | None = typer.Option(None, "--gpu", help="Price every result on this catalog GPU."),
    amortise_images: int = typer.Option(1000, "--amortise-images", min=1, help="Spread model load over N images."),
    usd_per_kwh: float | None = typer.Option(None, "--usd-per-kwh", min=0.0, help="Electricity price for energy."),
    catalog: Path | None = _CATALOG,
    price: list[str] = _PRICE,
    provider: list[str] = _PROVIDER,
) -> None:
    """$ per image, per 1000 images, images per $, energy and the hour/day/4-hour table for each result."""
    from bench.cost.costs import cost_rows
    from bench.results import read_results

    cat = _catalog(catalog, price)
    rows = cost_rows(
        read_results(results),
        cat,
        gpu_id=gpu,
        providers=provider or None,
        images_amortised=amortise_images,
        usd_per_kwh=usd_per_kwh,
    )
    if not rows:
        raise KbenchError("no ok results to cost in " + ", ".join(map(str, results)))
    table = []
    for r in rows:
        table.append(
            [
                r.run_key,
                r.gpu_id or r.gpu_name,
                _num(r.s_per_image, ".3f"),
                _money(r.price.usd_per_hour, 3) if r.price else "-",
                _money(r.usd_per_image, 5),
                _money(r.usd_per_1k_images, 3),
                _num(r.images_per_usd, ".0f"),
                _money(r.usd_per_1k_images_amortised, 3),
                _num(r.energy_wh_per_image, ".3f"),
                _money(r.energy_usd_per_1k_images, 3),
                _money(r.rental["day"], 2) if r.rental else "-",
                _money(r.rental["session_4h"], 2) if r.rental else "-",
            ]
        )
    headers = ["run", "gpu", "s/img", "$/h", "$/img", "$/1k", "img/$", f"$/1k +load/{amortise_images}", "Wh/img",
               "energy $/1k", "$/day", "$/4h"]  # fmt: skip
    typer.echo(format_table(headers, table))
    for r in rows:
        if r.price:
            typer.echo(f"price for {r.run_key}: {r.price.label()} {r.price.date} {r.price.source}")
    if any(r.price is None for r in rows):
        typer.echo("results without a catalog GPU (e.g. CPU runs) have no price; use --gpu ID to price them")


def _workload(
    model: str, task: str, resolution: str, steps: int | None, batch: int, dtype: str, memory: str
) -> Workload:
    from bench.models.registry import get_model
    from bench.scenario import check_resolution
    from bench.spec import parse_resolution

    spec = get_model(model)
    if task not in spec.tasks:
        raise ScenarioError(f"--task: {model} does not support {task!r}; it supports {', '.join(spec.tasks)}")
    if dtype not in ("fp16", "bf16", "fp32"):
        raise ScenarioError(f"--dtype: must be fp16, bf16 or fp32, got {dtype!r}")
    if memory not in ("none", "model_cpu_offload", "sequential_cpu_offload", "attention_slicing"):
        raise ScenarioError(
            f"--memory: must be none, model_cpu_offload, sequential_cpu_offload or attention_slicing, got {memory!r}"
        )
    try:
        width, height = parse_resolution(resolution) if resolution else spec.default_resolution
        check_resolution(model, width, height)
    except ValueError as exc:
        raise ScenarioError(f"--resolution: {str(exc).removeprefix('resolutions: ')}") from None
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
    model: str = typer.Option(..., "--model", help="Model id, e.g. kandinsky-3."),
    task: str = typer.Option("text2img", "--task"),
    resolution: str = typer.Option("", "--resolution", help="WIDTHxHEIGHT (default: the model's)."),
    steps: int | None = typer.Option(None, "--steps", min=1, max=1000),
    batch: int = typer.Option(1, "--batch", min=1, max=256),
    dtype: str = typer.Option("fp16", "--dtype"),
    memory: str = typer.Option("none", "--memory"),
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
) -> None:
    """Rank GPUs for a workload by $ per 1000 images, with VRAM fit, seconds per image and price source."""
    from bench.cost.recommend import Constraints, check_guide_vram, recommend
    from bench.results import read_results

    cat = _catalog(catalog, price)
    for gpu_id in gpu:
        cat.get(gpu_id)
    work = _workload(model, task, resolution, steps, batch, dtype, memory)
    constraints = Constraints(
        max_s_per_image=max_s_per_image,
        max_usd_per_hour=max_usd_per_hour,
        min_headroom_gb=min_headroom_gb,
        providers=provider or None,
        require_price=not include_unpriced,
    )
    ranked = recommend(work, cat, constraints, read_results(results) if results else (), gpu or None)
    rows = [
        [
            str(i),
            e.gpu_id,
            f"{e.vram_needed_gb:.1f}/{e.vram_gpu_gb:g}",
            f"{e.headroom_gb:+.1f}",
            f"{e.s_per_image:.2f}",
            e.source,
            _money(e.usd_per_hour, 3),
            _money(e.usd_per_1k_images, 3),
            f"{e.price_provider} {e.price_date}" if e.price_provider else "-",
            e.price_source or "-",
        ]
        for i, e in enumerate(ranked[: top or None], start=1)
    ]
    typer.echo(
        f"{work.model} {work.task} {work.resolution}, {work.steps} steps, batch {work.images_per_call}, "
        f"{work.dtype}, memory={work.memory}"
    )
    headers = ["#", "gpu", "VRAM GB need/have", "headroom", "s/img", "source", "$/h", "$/1k img", "price", "source"]
    typer.echo(format_table(headers, rows))
    labels = sorted({e.calibration for e in ranked if e.source == "projected"})
    for label in labels:
        typer.echo(f"projected: {label}")
    if guide_vram:
        checks = [c for c in check_guide_vram(cat) if c.row.model == work.model]
        if checks:
            typer.echo("\nThe deployment guide's VRAM table beside kbench's estimates (GB = GiB of device memory):")
            for c in checks:
                est = ", ".join(f"{d}+{m} {v:.1f}" for (d, m), v in c.estimates_gib.items())
                typer.echo(f"  {c.row.label} ({c.row.resolution}): guide {c.row.vram_gb:g} GB -> {c.verdict}")
                typer.echo(f"    estimates: {est}")


def flops_command(
    model: list[str] = typer.Option([], "--model", help="Model ids (default: all)."),
    resolution: list[str] = typer.Option([], "--resolution", help="WIDTHxHEIGHT (repeatable; default: the model's)."),
    steps: int | None = typer.Option(None, "--steps", min=1, max=1000),
    batch: int = typer.Option(1, "--batch", min=1, max=256),
    dtype: str = typer.Option("fp16", "--dtype"),
) -> None:
    """FLOPs and bytes per image by stage for the full-size models, counted on the meta device."""
    from bench.cost.counting.ops import METHOD
    from bench.cost.counting.rows import flops_table
    from bench.models.callplan import K3_CONTEXT_TOKENS, K5_PROMPT_TOKENS, K5_TEMPLATE_TOKENS
    from bench.models.registry import known_models
    from bench.models.types import STAGES

    workloads: list[Workload] = []
    for m in model or known_models():
        for res in resolution or [""]:
            workloads.append(_workload(m, "text2img", res, steps, batch, dtype, "none"))
    rows = []
    for r in flops_table(workloads):
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
    typer.echo(
        "Per image, classifier-free guidance included (denoiser call = one UNet/transformer call as the pipeline "
        "makes it: 2x batch under CFG, or 'x2' calls per step for Kandinsky 5; FLUX.1 has no CFG pass):"
    )
    typer.echo(format_table(headers, rows))
    typer.echo(
        f"Method: {METHOD} for every component. Prompt-length assumptions: FLUX.1 T5 at max_sequence_length "
        f"(dev 512, schnell 256); Kandinsky 5 {K5_PROMPT_TOKENS} prompt tokens (+{K5_TEMPLATE_TOKENS} template "
        f"tokens in Qwen2.5-VL); Kandinsky 3 {K3_CONTEXT_TOKENS} context tokens; CLIP encoders 77."
    )


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
    rows = compare_models(
        _catalog(catalog, price),
        gpu,
        models=model or None,
        resolution=size,
        steps=steps,
        dtype=dtype,
        records=read_results(results) if results else (),
        providers=provider or None,
    )
    if markdown:
        typer.echo(render_markdown_table(rows), nl=False)
        return
    headers, body = table_cells(rows)
    typer.echo(format_table(headers, body))
    for note in table_notes(rows):
        typer.echo(f"  {note}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("gpus")(gpus_command)
    app.command("cost")(cost_command)
    app.command("recommend")(recommend_command)
    app.command("flops")(flops_command)
    app.command("compare-models")(compare_models_command)

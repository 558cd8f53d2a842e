"""``kbench flops`` and ``kbench compare-models``: the full-size models counted on the meta device, per stage and
per GPU. Counting a model the first time takes seconds (then the counts are cached): each model is a stage line on
stderr (:mod:`bench.cli.progress`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from bench.cli import pricing
from bench.cli.commands_cost import COUNTED_ONCE, _workload
from bench.cli.progress import Stages
from bench.cli.tables import format_table, terminal_width, wrap_notes
from bench.cost.prices.book import load_price_book
from bench.errors import ScenarioError
from bench.spec import Workload


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
    counted = []
    with Stages("flops") as stages:
        for i, w in enumerate(workloads, start=1):
            where = f"{w.model} {w.resolution} ({i}/{len(workloads)})"
            stages.stage(f"counting {where} on the meta device ({COUNTED_ONCE})")
            counted += flops_table([w])
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
    catalog: Path | None = pricing.CATALOG,
    price: list[str] = pricing.PRICE,
    provider: list[str] = pricing.PROVIDER,
    tier: str | None = pricing.TIER,
    price_stat: str | None = pricing.PRICE_STAT,
    max_price_age: float = pricing.MAX_PRICE_AGE,
    json_out: bool = pricing.JSON,
) -> None:
    """Compare models: VRAM per memory option, s/image and $ per 1000 images per GPU, tasks, prompt languages."""
    from bench.cost.model_comparison import compare_models
    from bench.models.registry import known_models
    from bench.report.model_table import render_markdown_table, table_cells, table_notes
    from bench.results import read_results
    from bench.spec import parse_resolution

    try:
        size = parse_resolution(resolution) if resolution else None
    except ValueError as exc:
        raise ScenarioError(f"--resolution: {exc}") from None
    chosen = load_price_book(catalog, price, pricing.make_policy(tier, price_stat, max_price_age, provider))
    records = read_results(results) if results else ()
    models = model or known_models()
    rows = []
    with Stages("compare-models") as stages:
        for i, m in enumerate(models, start=1):  # one model at a time: a stage line each
            stages.stage(f"counting {m} ({i}/{len(models)}) on the meta device ({COUNTED_ONCE})")
            rows += compare_models(
                chosen.priced, gpu, models=[m], resolution=size, steps=steps, dtype=dtype, records=records
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
    """Add ``flops`` and ``compare-models`` to ``app``."""
    app.command("flops")(flops_command)
    app.command("compare-models")(compare_models_command)


__all__ = ["compare_models_command", "flops_command", "register"]

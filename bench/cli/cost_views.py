"""Output of ``kbench gpus``, ``cost``, ``flops`` and ``compare-models``: tables, markdown and JSON rows.

Computing stays in :mod:`bench.cost`; these functions only turn its values into text, with price sources as
numbered footnotes so the terminal tables fit 120 columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.cli.json_doc import choice_json, document, figure, listed_price_json, session_json
from bench.cli.tables import Footnotes, format_table, markdown, terminal_width, wrap_notes
from bench.cost.costs import CostRow
from bench.cost.prices.book import PriceBook
from bench.spec import STAGES

if TYPE_CHECKING:  # the counting and comparison modules load torch and diffusers: not for `kbench gpus`
    from bench.cost.counting.rows import FlopsRow
    from bench.cost.model_comparison import ModelRow


def _money(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"${value:.{digits}f}"


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


def _emit(
    headers: list[str],
    rows: list[list[str]],
    notes: Sequence[str],
    as_markdown: bool,
    shrink: Sequence[int],
    optional: Sequence[int] = (),
) -> str:
    if as_markdown:
        return markdown(headers, rows, notes)
    table = format_table(headers, rows, width=terminal_width(), shrink=shrink, optional=optional)
    return table + ("\n" + "\n".join(wrap_notes(notes)) if notes else "") + "\n"


AGGREGATOR_MARK = "*"
AGGREGATOR_NOTE = (
    f"{AGGREGATOR_MARK} after a provider: a third party's figure (an aggregator's page), kept where the provider's "
    "own price page could not be read"
)


def gpus_text(prices: PriceBook, *, listed: bool, as_markdown: bool) -> str:
    """The catalog: specs and the policy's price per GPU, then every listed price with its source.

    A price read on an aggregator's page rather than the provider's own carries :data:`AGGREGATOR_MARK`.
    """
    notes = Footnotes()
    rows = []
    marked = False
    for gpu in prices.listed.gpus.values():
        c = prices.choices.get(gpu.id)
        aggregated = c is not None and c.source_kind == "aggregator"
        marked |= aggregated
        rows.append(
            [
                gpu.id,
                gpu.name,
                _num(gpu.vram_gb, "g"),
                _num(gpu.bandwidth_gbs, "g"),
                _num(gpu.fp16_tensor_tflops, "g"),
                _num(gpu.fp32_tflops, "g"),
                _num(gpu.tdp_w, "g"),
                _money(c.usd_per_hour if c else None),
                (c.provider + AGGREGATOR_MARK * aggregated) if c else "-",
                (c.date[:10] + (" STALE" if c.stale else "")) if c else "-",
                notes.ref(f"{c.tier_label}; {c.source}") if c else "-",
            ]
        )
    headers = ["id", "name", "GB", "GB/s", "FP16 TF", "FP32 TF", "W", "$/h", "provider", "date", "ref"]
    out = [_emit(headers, rows, [], as_markdown, shrink=[1, 8], optional=[5, 6, 3])]  # FP32, W, GB/s: in specs
    if listed:
        marked |= any(p.source_kind == "aggregator" for gpu in prices.listed.gpus.values() for p in gpu.prices)
        price_rows = [
            [
                gpu.id,
                p.provider + AGGREGATOR_MARK * (p.source_kind == "aggregator"),
                (p.tier or "override") if p.provider == "user" else p.kind,
                _money(p.usd_per_hour),
                p.date,
                notes.ref(f"{p.tier or p.kind}; {p.source}"),
            ]
            for gpu in prices.listed.gpus.values()
            for p in sorted(gpu.prices, key=lambda q: q.usd_per_hour)
        ]
        out.append("\nListed prices (USD per GPU-hour; date published or observed):\n")
        out.append(_emit(["gpu", "provider", "kind", "$/h", "date", "ref"], price_rows, [], as_markdown, shrink=[1]))
    out.append("\n" + "\n".join(notes.lines() if as_markdown else wrap_notes(notes.lines())))
    out.append("\nGB: VRAM; GB/s: memory bandwidth; FP16 TF: dense tensor TFLOP/s; W: TDP; $/h: the price policy's\n")
    tail = [f"{len(prices.listed.gpus)} GPUs from {', '.join(prices.listed.files)}", prices.note()]
    tail += [AGGREGATOR_NOTE] * marked
    out.append("\n" + "\n".join(tail if as_markdown else wrap_notes(tail)) + "\n")
    return "".join(out)


def gpus_json(prices: PriceBook) -> str:
    rows = []
    for gpu in prices.listed.gpus.values():
        rows.append(
            {
                "id": gpu.id,
                "name": gpu.name,
                "arch": gpu.arch,
                "vram": figure(gpu.vram_gb, "GB", "catalog"),
                "bandwidth": figure(gpu.bandwidth_gbs, "GB/s", "catalog"),
                "fp16_tensor": figure(gpu.fp16_tensor_tflops, "TFLOP/s", "catalog"),
                "fp32": figure(gpu.fp32_tflops, "TFLOP/s", "catalog"),
                "tdp": figure(gpu.tdp_w, "W", "catalog"),
                "price": choice_json(prices.choices.get(gpu.id)),
                "listed_prices": [listed_price_json(p) for p in gpu.prices],
            }
        )
    return document("gpus", {"price_policy": prices.policy.describe()}, rows, [prices.note()])


def cost_text(rows: Sequence[CostRow], session: str, as_markdown: bool, notes_after: Sequence[str] = ()) -> str:
    notes = Footnotes()
    table = []
    for r in rows:
        source = None
        if r.price:
            billed = r.billing.label if r.billing else "per second assumed"
            source = f"{r.price.label()}, {r.price.date}; billed {billed}; {r.price.source}"
        table.append(
            [
                r.run_key,
                r.gpu_id or r.gpu_name,
                _num(r.s_per_image, ".3f"),
                _money(r.price.usd_per_hour if r.price else None),
                _money(r.usd_per_image, 5),
                _money(r.usd_per_1k_images),
                _num(r.images_per_usd, ".0f"),
                _money(r.usd_per_1k_images_amortised),
                _num(r.energy_wh_per_image, ".3f"),
                _money(r.energy_usd_per_1k_images),
                _money(r.rental["day"], 2) if r.rental else "-",
                _money(r.rental["session_4h"], 2) if r.rental else "-",
                notes.ref(source),
            ]
        )
    headers = ["run", "gpu", "s/img", "$/h", "$/img", "$/1k", "img/$", "session $/1k", "Wh/img",
               "energy $/1k", "$/day", "$/4h", "ref"]  # fmt: skip
    extra = [
        f"session $/1k: a session of {session}: each record's model load and warmup calls, then the images, billed "
        "as the price's provider rounds time; $/1k beside it is the steady state",
    ]
    if any(r.price is None for r in rows):
        extra.append("results without a catalog GPU (e.g. CPU runs) have no price; use --gpu ID to price them")
    return _emit(headers, table, [*notes.lines(), *extra, *notes_after], as_markdown, shrink=[0])


def cost_json(rows: Sequence[CostRow], query: dict[str, Any], notes: Sequence[str]) -> str:
    out = []
    for r in rows:
        out.append(
            {
                "run_key": r.run_key,
                "gpu": {"id": r.gpu_id, "name": r.gpu_name},
                "s_per_image": figure(r.s_per_image, "s/image", "measured"),
                "load_s": figure(r.load_s, "s", "measured"),
                "overhead_s": figure(r.overhead_s, "s", "measured"),
                "price": listed_price_json(r.price) if r.price else None,
                "usd_per_image": figure(r.usd_per_image, "USD/image", "computed"),
                "usd_per_1k_images": figure(r.usd_per_1k_images, "USD/1000 images", "computed"),
                "images_per_usd": figure(r.images_per_usd, "images/USD", "computed"),
                "session": session_json(r.session, "computed", r.billing),
                "energy_wh_per_image": figure(r.energy_wh_per_image, "Wh/image", "measured"),
                "energy_usd_per_1k_images": figure(r.energy_usd_per_1k_images, "USD/1000 images", "computed"),
                "rental": {k: figure(v, "USD", "computed") for k, v in r.rental.items()} if r.rental else None,
            }
        )
    return document("cost", query, out, notes)


def flops_json(rows: Sequence[FlopsRow], notes: Sequence[str]) -> str:
    out = []
    for r in rows:
        w = r.workload
        out.append(
            {
                "model": w.model,
                "resolution": w.resolution,
                "steps": w.steps,
                "batch": w.images_per_call,
                "dtype": w.dtype,
                "stage_tflops": {s: figure(r.stage_tflops[s], "TFLOP/image", "counted") for s in STAGES},
                "stage_gb": {s: figure(r.stage_gb[s], "GB/image", "counted") for s in STAGES},
                "total_tflops": figure(r.total_tflops, "TFLOP/image", "counted"),
                "moved_gb": figure(r.total_gb, "GB/image", "counted"),
                "denoiser_call_tflops": figure(r.denoiser_call_tflops, "TFLOP/call", "counted"),
                "denoiser_calls_per_step": r.denoiser_calls_per_step,
                "weights_gb": figure(r.weights_gb, "GB", "counted"),
                "method": r.method,
            }
        )
    return document("flops", {}, out, notes)


def compare_models_json(
    rows: Sequence[ModelRow], prices: PriceBook, query: dict[str, Any], notes: Sequence[str]
) -> str:
    from bench.report.model_table import tied_gpus

    out = []
    for r in rows:
        speed = []
        tied = tied_gpus(r)
        for s in r.speed:
            label = s.source or "projected"
            s_band = list(s.s_per_image_interval) if s.s_per_image_interval else None
            usd_band = list(s.usd_per_1k_interval) if s.usd_per_1k_interval else None
            speed.append(
                {
                    "gpu_id": s.gpu_id,
                    "memory": s.memory,
                    "s_per_image": figure(s.s_per_image, "s/image", label, interval=s_band),
                    "usd_per_1k_images": figure(s.usd_per_1k_images, "USD/1000 images", label, interval=usd_band),
                    "tied": s.gpu_id in tied,
                    "basis": s.calibration,
                    "price": choice_json(prices.choices.get(s.gpu_id)),
                }
            )
        out.append(
            {
                "model": r.model,
                "name": r.display_name,
                "task": r.task,
                "resolution": r.resolution,
                "steps": r.steps,
                "dtype": r.dtype,
                "tasks": list(r.tasks),
                "vram": [{"memory": c.memory, "peak": figure(c.gib, "GiB", c.source)} for c in r.vram],
                "speed": speed,
                "languages": dict(r.languages),
                "language_source": r.language_source,
            }
        )
    return document("compare-models", query, out, notes)


__all__ = ["compare_models_json", "cost_json", "cost_text", "flops_json", "gpus_json", "gpus_text"]

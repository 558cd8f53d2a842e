"""Report tables as plain data: the summary rows and the deployment-guide-shaped tables.

Everything here is pure (records, estimates and the catalog in, frozen rows out), so the HTML,
markdown and CSV renderers show the same numbers and tests can check them without rendering.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bench.cost.catalog import Catalog, GpuSpec
from bench.cost.costs import rental_table, usd_per_1k_images
from bench.cost.model_comparison import ModelRow, compare_models, table_notes
from bench.cost.projection import Estimate
from bench.results import RunRecord

MemoryKind = Literal["VRAM", "RSS"]
Source = Literal["measured", "projected"]

NO_COST_CPU = "CPU run: no GPU rental price applies; see the projected costs per GPU"
NO_COST_NOT_IN_CATALOG = "the GPU this ran on is not in the catalog, or has no price there"
NO_COST_FAILED = "no timing: the run did not finish"
SUMMARY_COLUMNS = (
    "scenario",
    "model",
    "task",
    "language",
    "resolution",
    "steps",
    "batch",
    "dtype",
    "memory",
    "device",
    "weights",
    "status",
    "reason",
    "median_s_per_image",
    "p90_s_per_image",
    "images_per_s",
    "peak_memory_mb",
    "peak_memory_kind",
    "energy_j_per_image",
    "usd_per_1k_images",
    "cost_note",
)
"""Column order of the CSV and the field names of :class:`SummaryRow`."""


@dataclass(frozen=True)
class SummaryRow:
    """One run as the summary table shows it; numbers are raw (formatting is the renderer's job)."""

    run_key: str
    scenario: str
    model: str
    task: str
    language: str
    resolution: str
    pixels: int
    steps: int
    batch: str
    dtype: str
    memory: str
    device: str
    weights: str
    status: str
    reason: str
    median_s_per_image: float | None
    p90_s_per_image: float | None
    images_per_s: float | None
    peak_memory_mb: float | None
    peak_memory_kind: MemoryKind | None
    energy_j_per_image: float | None
    usd_per_1k_images: float | None
    cost_note: str

    def as_dict(self) -> dict[str, Any]:
        """The CSV columns, in :data:`SUMMARY_COLUMNS` order."""
        return {name: getattr(self, name) for name in SUMMARY_COLUMNS}


@dataclass(frozen=True)
class Cell:
    """One value of a guide table, with whether it was measured or projected."""

    value: float | None
    source: Source
    note: str = ""


@dataclass(frozen=True)
class GuideRow:
    """A workload (model, task, resolution, steps, batch, dtype, memory) with one cell per GPU column."""

    label: tuple[str, ...]
    cells: tuple[Cell | None, ...]


@dataclass(frozen=True)
class GuideTable:
    """A workload x GPU table, like the deployment guide's time-per-image table."""

    gpu_ids: tuple[str, ...]
    gpu_names: tuple[str, ...]
    rows: tuple[GuideRow, ...]


@dataclass(frozen=True)
class VramRow:
    """VRAM a workload needs and the smallest catalog GPU it fits on."""

    label: tuple[str, ...]
    vram_needed_gb: float | None
    source: Source
    smallest_gpu: str | None
    smallest_gpu_vram_gb: float | None


@dataclass(frozen=True)
class RentalRow:
    """Cheapest known rental price of one GPU and what an hour, a day and a 4-hour session cost."""

    gpu_id: str
    gpu_name: str
    vram_gb: float
    usd_per_hour: float
    usd_per_day: float
    usd_per_session_4h: float
    provider: str
    tier: str
    date: str
    source: str


@dataclass(frozen=True)
class CostPoint:
    """One (workload, GPU) point for the cost figures."""

    workload: str
    model: str
    gpu_id: str
    gpu_name: str
    s_per_image: float
    usd_per_1k_images: float
    source: Source


WEIGHT_NOTES = {
    "random": (
        "random weights: the full-size architecture with randomly initialised weights. Time, memory and energy "
        "match the real model at this size; the images are noise."
    ),
    "tiny": (
        "tiny weights: small test configurations of each architecture. These numbers show that the pipeline "
        "runs; they say nothing about the real models' speed, memory or cost."
    ),
}
ENV_PREFERRED = (  # keys as bench.measure.env.capture_environment writes them
    "gpu_name",
    "gpu_memory_total_mb",
    "power_limit_w",
    "driver_version",
    "cuda_driver_version",
    "torch_cuda_version",
    "cudnn_version",
    "torch_version",
    "diffusers_version",
    "transformers_version",
    "accelerate_version",
    "kbench_version",
    "python",
    "platform",
    "cpu_model",
    "host",
)
MAX_ENV_VALUE_CHARS = 300


@dataclass(frozen=True)
class EnvBlock:
    """One distinct environment among the records, flattened to (key, text) pairs, preferred keys first."""

    items: tuple[tuple[str, str], ...]
    weights: tuple[str, ...]
    devices: tuple[str, ...]
    runs: int


def _flatten(env: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in env.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            out[name] = ", ".join(str(v) for v in value)
        elif value is not None:  # unknown facts (no GPU on a CPU run) are left out, not shown empty
            out[name] = str(value)
    return {k: (v if len(v) <= MAX_ENV_VALUE_CHARS else v[: MAX_ENV_VALUE_CHARS - 1] + "…") for k, v in out.items()}


def environment_blocks(records: Sequence[RunRecord], max_blocks: int = 8) -> list[EnvBlock]:
    """Distinct environments in first-seen order (results from several machines give several blocks)."""
    groups: dict[tuple[tuple[str, str], ...], list[RunRecord]] = {}
    for rec in records:
        flat = _flatten(rec.env)
        rank = {k: i for i, k in enumerate(ENV_PREFERRED)}
        items = tuple(sorted(flat.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
        groups.setdefault(items, []).append(rec)
    return [
        EnvBlock(
            items=items,
            weights=tuple(sorted({r.spec.weights for r in recs})),
            devices=tuple(sorted({r.spec.device for r in recs})),
            runs=len(recs),
        )
        for items, recs in list(groups.items())[:max_blocks]
    ]


def weight_notes(records: Sequence[RunRecord]) -> list[str]:
    """Banners for weight sources whose numbers must not be read as the real models' (``random``, ``tiny``)."""
    sources = sorted({r.spec.weights for r in records})
    return [WEIGHT_NOTES[s] for s in sources if s in WEIGHT_NOTES]


WORKLOAD_HEADERS = ("model", "task", "resolution", "steps", "batch", "dtype", "memory")


def _batch_label(batch_size: int, images_per_prompt: int = 1) -> str:
    return str(batch_size) if images_per_prompt == 1 else f"{batch_size}×{images_per_prompt}"


def is_cpu(record: RunRecord) -> bool:
    """True when the run was measured on the CPU (no GPU, so no rental price of its own)."""
    return record.spec.device.split(":")[0] == "cpu"


def peak_memory(record: RunRecord) -> tuple[float | None, MemoryKind | None]:
    """Peak device memory: whole-device VRAM on a GPU, else torch's reserved peak, else process RSS."""
    mem = record.memory
    if mem.vram_used_peak_mb is not None:
        return mem.vram_used_peak_mb, "VRAM"
    if mem.torch_reserved_peak_mb is not None and not is_cpu(record):
        return mem.torch_reserved_peak_mb, "VRAM"
    if mem.peak_rss_mb is not None:
        return mem.peak_rss_mb, "RSS"
    return None, None


def _measured_cost(record: RunRecord, catalog: Catalog) -> tuple[float | None, str]:
    """$ per 1000 images of this record's own median on the GPU it ran on, at that GPU's cheapest price."""
    if record.summary is None:
        return None, NO_COST_FAILED
    if is_cpu(record):
        return None, NO_COST_CPU
    name = record.env.get("gpu_name")
    gpu = catalog.match_nvml_name(str(name)) if name else None
    price = gpu.cheapest_price() if gpu is not None else None
    if gpu is None or price is None:
        return None, NO_COST_NOT_IN_CATALOG
    usd = usd_per_1k_images(record.summary.median_s_per_image, price.usd_per_hour)
    return usd, f"measured on {gpu.name} at ${price.usd_per_hour:g}/h ({price.label()}, {price.date})"


def summary_rows(records: Sequence[RunRecord], catalog: Catalog) -> list[SummaryRow]:
    """One row per record, in input order; failed and skipped runs keep their status and reason."""
    rows: list[SummaryRow] = []
    for rec in records:
        spec, summ = rec.spec, rec.summary
        mem_mb, mem_kind = peak_memory(rec)
        usd, note = _measured_cost(rec, catalog)
        reason = rec.reason or (f"{rec.error.type}: {rec.error.message}" if rec.error else "")
        rows.append(
            SummaryRow(
                run_key=rec.run_key,
                scenario=spec.scenario,
                model=spec.model,
                task=spec.task,
                language=spec.language,
                resolution=spec.resolution,
                pixels=spec.width * spec.height,
                steps=spec.steps,
                batch=_batch_label(spec.batch_size, spec.images_per_prompt),
                dtype=spec.dtype,
                memory=spec.memory,
                device=spec.device,
                weights=spec.weights,
                status=rec.status,
                reason=reason,
                median_s_per_image=summ.median_s_per_image if summ else None,
                p90_s_per_image=summ.p90_s_per_image if summ else None,
                images_per_s=summ.images_per_s if summ else None,
                peak_memory_mb=mem_mb,
                peak_memory_kind=mem_kind,
                energy_j_per_image=rec.energy.energy_j_per_image,
                usd_per_1k_images=usd,
                cost_note=note,
            )
        )
    return rows


def workload_label(est: Estimate) -> tuple[str, ...]:
    """The guide's row key for an estimate: what defines the workload, not where it ran."""
    return (est.model, est.task, str(est.resolution), str(est.steps), str(est.batch_size), est.dtype, est.memory)


def _prefer(current: Estimate | None, new: Estimate) -> Estimate:
    """Measured beats projected; otherwise the first one seen wins (input order is stable)."""
    if current is None or (current.source != "measured" and new.source == "measured"):
        return new
    return current


def _gpu_order(estimates: Sequence[Estimate], catalog: Catalog) -> list[str]:
    ids = {e.gpu_id for e in estimates}
    known = [g for g in catalog.gpus if g in ids]  # catalog order: the data file orders GPUs deliberately
    return known + sorted(ids - set(known))


def _best_by_workload(estimates: Sequence[Estimate]) -> dict[tuple[str, ...], dict[str, Estimate]]:
    table: dict[tuple[str, ...], dict[str, Estimate]] = {}
    for est in estimates:
        per_gpu = table.setdefault(workload_label(est), {})
        per_gpu[est.gpu_id] = _prefer(per_gpu.get(est.gpu_id), est)
    return table


def _guide_table(estimates: Sequence[Estimate], catalog: Catalog, field: str) -> GuideTable:
    gpu_ids = _gpu_order(estimates, catalog)
    names = tuple(catalog.gpus[g].name if g in catalog.gpus else g for g in gpu_ids)
    rows: list[GuideRow] = []
    for label, per_gpu in _best_by_workload(estimates).items():
        cells: list[Cell | None] = []
        for gid in gpu_ids:
            est = per_gpu.get(gid)
            if est is None:
                cells.append(None)
            elif not est.fits:
                cells.append(Cell(None, est.source, "does not fit in VRAM"))
            else:
                value = getattr(est, field)
                cells.append(Cell(value, est.source, "" if value is not None else "no price"))
        rows.append(GuideRow(label, tuple(cells)))
    return GuideTable(tuple(gpu_ids), names, tuple(rows))


def time_table(estimates: Sequence[Estimate], catalog: Catalog) -> GuideTable:
    """Seconds per image by workload (rows) and GPU (columns); measured where measured, else projected."""
    return _guide_table(estimates, catalog, "s_per_image")


def cost_table(estimates: Sequence[Estimate], catalog: Catalog) -> GuideTable:
    """Dollars per 1000 images by workload and GPU, at each GPU's cheapest catalog price."""
    return _guide_table(estimates, catalog, "usd_per_1k_images")


def vram_table(estimates: Sequence[Estimate], catalog: Catalog) -> list[VramRow]:
    """VRAM each workload needs and the smallest GPU (by VRAM, then price) it fits on."""
    rows: list[VramRow] = []
    for label, per_gpu in _best_by_workload(estimates).items():
        ests = list(per_gpu.values())
        pick = next((e for e in ests if e.vram_source == "measured"), ests[0])
        fitting = [catalog.gpus[e.gpu_id] for e in ests if e.fits and e.gpu_id in catalog.gpus]
        smallest = min(fitting, key=lambda g: (g.vram_gb, _price_or_inf(g)), default=None)
        rows.append(
            VramRow(
                label=label,
                vram_needed_gb=pick.vram_needed_gb,
                source=pick.vram_source,
                smallest_gpu=smallest.name if smallest else None,
                smallest_gpu_vram_gb=smallest.vram_gb if smallest else None,
            )
        )
    return rows


def _price_or_inf(gpu: GpuSpec) -> float:
    price = gpu.cheapest_price()
    return price.usd_per_hour if price is not None else float("inf")


def rental_rows(catalog: Catalog, gpu_ids: Iterable[str]) -> list[RentalRow]:
    """Rental cost per hour, day and 4-hour session for each listed GPU that has a price, in catalog order."""
    wanted = set(gpu_ids)
    rows: list[RentalRow] = []
    for gid, gpu in catalog.gpus.items():
        price = gpu.cheapest_price()
        if gid not in wanted or price is None:
            continue
        costs = rental_table(price.usd_per_hour)
        rows.append(
            RentalRow(
                gpu_id=gid,
                gpu_name=gpu.name,
                vram_gb=gpu.vram_gb,
                usd_per_hour=price.usd_per_hour,
                usd_per_day=costs["day"],
                usd_per_session_4h=costs["session_4h"],
                provider=price.provider,
                tier=str(price.tier or ""),
                date=str(price.date or ""),
                source=str(price.source or ""),
            )
        )
    return rows


def focus_points(estimates: Sequence[Estimate], max_models: int = 6) -> list[CostPoint]:
    """Cost points for one workload per model (its largest resolution), so GPUs compare like for like.

    Mixing workloads in one cost figure would make a small image look like a cheap GPU, so each model
    contributes one workload: the one with the most pixels, then the most steps.
    """
    by_model: dict[str, tuple[str, ...]] = {}
    for est in estimates:
        label = workload_label(est)
        current = by_model.get(est.model)
        if current is None or _workload_size(label) > _workload_size(current):
            by_model[est.model] = label
    chosen = {by_model[m]: m for m in sorted(by_model)[:max_models]}
    points: list[CostPoint] = []
    for label, per_gpu in _best_by_workload(estimates).items():
        if label not in chosen:
            continue
        for est in per_gpu.values():
            if est.fits and est.s_per_image is not None and est.usd_per_1k_images is not None:
                points.append(
                    CostPoint(
                        workload=" ".join(label),
                        model=est.model,
                        gpu_id=est.gpu_id,
                        gpu_name=est.gpu_name,
                        s_per_image=est.s_per_image,
                        usd_per_1k_images=est.usd_per_1k_images,
                        source=est.source,
                    )
                )
    return points


def _workload_size(label: tuple[str, ...]) -> tuple[int, int]:
    width, _, height = label[2].partition("x")
    try:
        pixels = int(width) * int(height or width)
    except ValueError:
        pixels = 0
    return pixels, int(label[3]) if label[3].isdigit() else 0


def fmt_num(value: float | None, sig: int = 3) -> str:
    """Human formatting shared by the HTML and markdown renderers: ``sig`` significant digits, no exponent."""
    if value is None:
        return "—"
    if value != value:  # NaN
        return "—"
    if abs(value) >= 10**sig:
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    text = f"{value:.{sig}g}"
    if "e" not in text:
        return text
    if abs(value) >= 1:  # rounding reached 10**sig, e.g. 999.9 -> "1e+03"
        return f"{value:,.0f}"
    decimals = sig - 1 - math.floor(math.log10(abs(value)))  # very small: no scientific notation
    return f"{value:.{decimals}f}"


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower is better), sorted by x.

    A point is dominated when another is <= on both coordinates and < on at least one.
    Sort by (x, y) and keep each point whose y is below every y seen so far: O(n log n).
    """
    order = sorted(range(len(points)), key=lambda i: points[i])
    front: list[int] = []
    best_y = float("inf")
    for i in order:
        if points[i][1] < best_y:
            front.append(i)
            best_y = points[i][1]
    return front


@dataclass(frozen=True)
class ScenarioInfo:
    """Where runs came from and what they were asked to draw (all text from user files: renderers escape it)."""

    scenario: str
    scenario_file: str
    prompt_set: str
    languages: str
    negative_prompt: str
    runs: int


@dataclass(frozen=True)
class BestRow:
    """For one workload, the fastest and the cheapest GPU that fit."""

    label: tuple[str, ...]
    fastest_gpu: str
    fastest_s_per_image: float
    fastest_source: Source
    cheapest_gpu: str
    cheapest_usd_per_1k: float
    cheapest_source: Source


@dataclass(frozen=True)
class ReportData:
    """Everything a renderer shows, computed once so the HTML, markdown and CSV agree."""

    title: str
    rows: tuple[SummaryRow, ...]
    failed: tuple[SummaryRow, ...]
    environments: tuple[EnvBlock, ...]
    weight_notes: tuple[str, ...]
    time: GuideTable
    cost: GuideTable
    vram: tuple[VramRow, ...]
    rental: tuple[RentalRow, ...]
    best: tuple[BestRow, ...]
    points: tuple[CostPoint, ...]
    scenarios: tuple[ScenarioInfo, ...]
    warnings: tuple[tuple[str, str], ...]
    kbench_versions: tuple[str, ...]
    started_at: str
    finished_at: str
    models: tuple[ModelRow, ...] = ()
    model_notes: tuple[str, ...] = ()

    @property
    def ok_count(self) -> int:
        return sum(1 for r in self.rows if r.status == "ok")


def scenario_infos(records: Sequence[RunRecord]) -> list[ScenarioInfo]:
    """Distinct (scenario, prompt set, negative prompt) combinations with their run counts."""
    groups: dict[tuple[str, str, str, str], list[RunRecord]] = {}
    for rec in records:
        spec = rec.spec
        key = (spec.scenario, spec.scenario_file or "", spec.prompt_set, spec.negative_prompt or "")
        groups.setdefault(key, []).append(rec)
    return [
        ScenarioInfo(name, file, prompts, ", ".join(sorted({r.spec.language for r in recs})), negative, len(recs))
        for (name, file, prompts, negative), recs in groups.items()
    ]


def best_rows(time: GuideTable, cost: GuideTable) -> list[BestRow]:
    """Fastest and cheapest fitting GPU per workload (rows of the two guide tables line up by label)."""
    out: list[BestRow] = []
    cost_by_label = {row.label: row for row in cost.rows}
    for row in time.rows:
        fast = [(c.value, name, c.source) for c, name in zip(row.cells, time.gpu_names, strict=True) if c and c.value]
        crow = cost_by_label.get(row.label)
        cheap = (
            [(c.value, name, c.source) for c, name in zip(crow.cells, cost.gpu_names, strict=True) if c and c.value]
            if crow
            else []
        )
        if fast and cheap:
            f, c = min(fast), min(cheap)
            out.append(BestRow(row.label, f[1], f[0], f[2], c[1], c[0], c[2]))
    return out


def run_warnings(records: Sequence[RunRecord], limit: int = 200) -> list[tuple[str, str]]:
    """Distinct (run key, warning) pairs in input order, at most ``limit``."""
    seen: dict[tuple[str, str], None] = {}
    for rec in records:
        for text in rec.warnings:
            seen.setdefault((rec.run_key, text), None)
    return list(seen)[:limit]


# GPUs of the model comparison when no record ran on a catalog GPU: the deployment guide's consumer card
# and a data-centre card.
COMPARISON_DEFAULT_GPUS = ("rtx4090", "a100-80gb-sxm")


def model_comparison(records: Sequence[RunRecord], catalog: Catalog) -> list[ModelRow]:
    """The model comparison for the models in ``records`` only (not the whole registry).

    Each model is compared on its first ok record's resolution, steps and dtype, so records of that workload
    measure their cells. GPUs: the catalog GPUs the records ran on, else :data:`COMPARISON_DEFAULT_GPUS`.
    """
    firsts: dict[str, RunRecord] = {}
    for rec in records:
        if rec.ok:
            firsts.setdefault(rec.spec.model, rec)
    gpus = list(dict.fromkeys(g.id for r in records if (g := _record_gpu(r, catalog)) is not None))
    gpus = gpus or [g for g in COMPARISON_DEFAULT_GPUS if g in catalog.gpus]
    if not gpus:
        return []
    rows: list[ModelRow] = []
    for model, rec in firsts.items():
        spec = rec.spec
        rows += compare_models(
            catalog,
            gpus,
            models=[model],
            resolution=(spec.width, spec.height),
            steps=spec.steps,
            dtype=spec.dtype,
            records=records,
        )
    return rows


def _record_gpu(record: RunRecord, catalog: Catalog) -> GpuSpec | None:
    name = record.env.get("gpu_name")
    return catalog.match_nvml_name(str(name)) if name and not is_cpu(record) else None


def build_report_data(
    records: Sequence[RunRecord], catalog: Catalog, estimates: Sequence[Estimate], title: str
) -> ReportData:
    """Assemble every table the renderers need from records, the catalog and the cost estimates."""
    rows = summary_rows(records, catalog)
    time, cost = time_table(estimates, catalog), cost_table(estimates, catalog)
    models = model_comparison(records, catalog)
    return ReportData(
        title=title,
        rows=tuple(rows),
        failed=tuple(r for r in rows if r.status != "ok"),
        environments=tuple(environment_blocks(records)),
        weight_notes=tuple(weight_notes(records)),
        time=time,
        cost=cost,
        vram=tuple(vram_table(estimates, catalog)),
        rental=tuple(rental_rows(catalog, {e.gpu_id for e in estimates})),
        best=tuple(best_rows(time, cost)),
        points=tuple(focus_points(estimates)),
        scenarios=tuple(scenario_infos(records)),
        warnings=tuple(run_warnings(records)),
        kbench_versions=tuple(sorted({r.kbench_version for r in records})),
        started_at=min((r.started_at for r in records), default=""),
        finished_at=max((r.finished_at for r in records), default=""),
        models=tuple(models),
        model_notes=tuple(table_notes(models)),
    )


__all__ = [
    "COMPARISON_DEFAULT_GPUS",
    "ENV_PREFERRED",
    "SUMMARY_COLUMNS",
    "WEIGHT_NOTES",
    "WORKLOAD_HEADERS",
    "BestRow",
    "Cell",
    "CostPoint",
    "EnvBlock",
    "GuideRow",
    "GuideTable",
    "RentalRow",
    "ReportData",
    "ScenarioInfo",
    "SummaryRow",
    "VramRow",
    "best_rows",
    "build_report_data",
    "cost_table",
    "environment_blocks",
    "fmt_num",
    "focus_points",
    "is_cpu",
    "model_comparison",
    "pareto_front",
    "peak_memory",
    "rental_rows",
    "run_warnings",
    "scenario_infos",
    "summary_rows",
    "time_table",
    "vram_table",
    "weight_notes",
]

"""The deployment guide's model comparison table, from kbench's own numbers.

Per model: the VRAM it needs in one dtype under each memory option, seconds per image and $ per 1000 images
on chosen GPUs, the tasks it supports, and whether its text encoder handles Russian, Chinese and German
prompts. Every number carries its source: a cell is ``measured`` when a result record of the same workload
(model, task, resolution, steps, batch, dtype, memory option) ran on that GPU, else ``projected`` (meta-device
counts, roofline, calibrated by any GPU record of the same model; see :mod:`bench.cost.projection`).

On each GPU the speed cell uses the lightest memory option measured there (a finished run fits), else the
lightest that is estimated to fit (``none``, then model offload, then sequential offload), as a renter would,
and names it. Prices are the GPU's cheapest catalog price. The table's text (cells, markdown, footnotes) is
rendered by :mod:`bench.report.model_table`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.cost.catalog import Catalog
from bench.cost.costs import usd_per_1k_images
from bench.cost.counting.profile import profile_workload
from bench.cost.projection import Estimate, Source, estimate_workload, workload_key
from bench.cost.vram import estimate_vram, measured_vram_gib
from bench.errors import ScenarioError, clip
from bench.models.registry import get_model, known_models
from bench.results import RunRecord
from bench.results.registered import stands_for_registered
from bench.scenario import check_resolution
from bench.spec import DTYPES, LANGUAGES, VRAM_MEMORY_OPTIONS, Workload

# the languages besides English a model may take prompts in (the comparison's columns)
PROMPT_LANGUAGES = tuple(lang for lang in LANGUAGES if lang != "en")


@dataclass(frozen=True)
class VramCell:
    """Peak VRAM of one workload under one memory option."""

    memory: str
    gib: float
    source: Source


@dataclass(frozen=True)
class SpeedCell:
    """Seconds per image and $ per 1000 images of one model on one GPU (None when nothing fits)."""

    gpu_id: str
    gpu_name: str
    gpu_vram_gb: float
    memory: str | None  # the memory option the figures assume; None: does not fit under any option
    s_per_image: float | None
    usd_per_1k_images: float | None
    source: Source | None
    calibration: str
    price_label: str | None  # provider, date and source of the price used
    s_per_image_interval: tuple[float, float] | None = None  # a projection's low-high; None where measured
    usd_per_1k_interval: tuple[float, float] | None = None  # $ per 1000 images over that interval

    @property
    def usd_low_high(self) -> tuple[float, float] | None:
        """The $ interval, or the point figure twice where there is no interval (measured), or None."""
        if self.usd_per_1k_interval is not None:
            return self.usd_per_1k_interval
        return None if self.usd_per_1k_images is None else (self.usd_per_1k_images, self.usd_per_1k_images)


@dataclass(frozen=True)
class ModelRow:
    """One model's line of the comparison table."""

    model: str
    display_name: str
    task: str
    resolution: str
    steps: int
    dtype: str
    tasks: tuple[str, ...]
    vram: tuple[VramCell, ...]
    speed: tuple[SpeedCell, ...]
    languages: dict[str, bool]
    language_source: str


def comparison_workload(
    model: str, resolution: tuple[int, int] | None = None, steps: int | None = None, dtype: str = "fp16"
) -> Workload:
    """The text-to-image workload a model is compared on: given resolution/steps, else the model's defaults.

    Raises:
        ScenarioError: for a dtype other than fp16/bf16/fp32 or a resolution the model cannot render.
    """
    spec = get_model(model)
    if dtype not in DTYPES:
        raise ScenarioError(f"--dtype: must be one of {', '.join(DTYPES)}, got {clip(dtype)}")
    width, height = resolution or spec.default_resolution
    try:
        check_resolution(model, width, height)
    except ValueError as exc:
        raise ScenarioError(f"--resolution: {str(exc).removeprefix('resolutions: ')}") from None
    return Workload(
        model=model, task="text2img", width=width, height=height, steps=steps or spec.default_steps, dtype=dtype
    )


def _usable(record: RunRecord) -> bool:
    return record.ok and record.summary is not None and stands_for_registered(record)


def _vram_cell(work: Workload, records: Sequence[RunRecord]) -> VramCell:
    """Measured peak of the same workload on any GPU (largest), else the estimate."""
    key = workload_key(work)
    peaks = [
        v
        for r in records
        if _usable(r) and workload_key(Workload.from_spec(r.spec)) == key and (v := measured_vram_gib(r)) is not None
    ]
    if peaks:
        return VramCell(work.memory, max(peaks), "measured")
    return VramCell(work.memory, estimate_vram(profile_workload(work)).total_gib, "projected")


def _speed_cell(by_memory: dict[str, Estimate]) -> SpeedCell:
    """The lightest memory option measured on this GPU (a finished run fits), else the lightest that fits."""
    first = next(iter(by_memory.values()))
    measured = [e for e in by_memory.values() if e.source == "measured"]
    fitting = measured or [e for e in by_memory.values() if e.fits]
    if not fitting:
        return SpeedCell(first.gpu_id, first.gpu_name, first.vram_gpu_gb, None, None, None, None, "", None)
    e = fitting[0]
    tier = f" ({e.price_tier})" if e.price_tier else ""
    price = (
        f"{e.price_provider}{tier}, ${e.usd_per_hour:.3f}/h, {e.price_date}, {e.price_source}"
        if e.price_provider
        else None
    )
    return SpeedCell(
        gpu_id=e.gpu_id,
        gpu_name=e.gpu_name,
        gpu_vram_gb=e.vram_gpu_gb,
        memory=e.memory,
        s_per_image=e.s_per_image,
        usd_per_1k_images=e.usd_per_1k_images,
        source=e.source,
        calibration=e.calibration,
        price_label=price,
        s_per_image_interval=e.s_per_image_interval,
        usd_per_1k_interval=(
            (
                usd_per_1k_images(e.s_per_image_interval[0], e.usd_per_hour),
                usd_per_1k_images(e.s_per_image_interval[1], e.usd_per_hour),
            )
            if e.s_per_image_interval and e.usd_per_hour
            else None
        ),
    )


def compare_models(
    catalog: Catalog,
    gpu_ids: Sequence[str],
    *,
    models: Iterable[str] | None = None,
    resolution: tuple[int, int] | None = None,
    steps: int | None = None,
    dtype: str = "fp16",
    records: Sequence[RunRecord] = (),
    providers: list[str] | None = None,
) -> list[ModelRow]:
    """One :class:`ModelRow` per model (default: every registry model), measured where records allow.

    Args:
        catalog: GPU specs and prices.
        gpu_ids: Catalog GPUs to show seconds and $ for (at least one).
        models: Model ids; ``None`` means all registry models.
        resolution: (width, height) for every model; ``None`` uses each model's default.
        steps: Denoising steps for every model; ``None`` uses each model's default.
        dtype: fp16, bf16 or fp32.
        records: Result records that measure cells (same workload on that GPU) or calibrate projections.
        providers: Only prices from these providers.

    Raises:
        ScenarioError: no GPU given, or a resolution/dtype a model cannot run.
        KbenchError: an unknown model or GPU id (its message lists the known ones).
    """
    if not gpu_ids:
        raise ScenarioError("--gpu: give at least one catalog GPU id (see kbench gpus)")
    gpus = [catalog.get(g).id for g in gpu_ids]
    records = list(records)
    rows: list[ModelRow] = []
    for model in models or known_models():
        spec = get_model(model)
        work = comparison_workload(model, resolution, steps, dtype)
        vram: list[VramCell] = []
        per_gpu: dict[str, dict[str, Estimate]] = {g: {} for g in gpus}
        for memory in VRAM_MEMORY_OPTIONS:
            w = work.with_(memory=memory)
            vram.append(_vram_cell(w, records))
            for est in estimate_workload(w, catalog, records, gpus, providers=providers):
                per_gpu[est.gpu_id][memory] = est
        rows.append(
            ModelRow(
                model=model,
                display_name=spec.display_name,
                task=work.task,
                resolution=work.resolution,
                steps=work.steps,
                dtype=dtype,
                tasks=spec.tasks,
                vram=tuple(vram),
                speed=tuple(_speed_cell(per_gpu[g]) for g in gpus),
                languages={lang: spec.multilingual.get(lang, False) for lang in PROMPT_LANGUAGES},
                language_source=spec.multilingual_source,
            )
        )
    return rows


__all__ = [
    "PROMPT_LANGUAGES",
    "ModelRow",
    "SpeedCell",
    "VramCell",
    "compare_models",
    "comparison_workload",
]

"""RunSpec: the one value every stage passes on, from scenario loading to the child process and results.

A leaf module (pydantic only), so results, cost and measurement code can name a run without importing the
scenario loader or the model registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

WeightSource = Literal["hub", "random", "tiny"]
Dtype = Literal["fp32", "fp16", "bf16"]
MemoryOption = Literal["none", "model_cpu_offload", "sequential_cpu_offload", "attention_slicing"]
Task = Literal["text2img", "img2img", "inpaint", "outpaint", "mix"]
Language = Literal["en", "ru", "zh", "de"]
ServerKind = Literal["gradio", "openai", "url"]  # a serve scenario's server: kbench's apps or an endpoint
Arrivals = Literal["poisson", "constant", "closed"]  # how a load point sends requests
# The one vocabulary of workload fields: commands, scenarios, the registry and the cost room read these tuples.
DTYPES: tuple[Dtype, ...] = get_args(Dtype)
MEMORY_OPTIONS: tuple[MemoryOption, ...] = get_args(MemoryOption)
TASKS: tuple[Task, ...] = get_args(Task)
LANGUAGES: tuple[Language, ...] = get_args(Language)

_RESOLUTION_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
STRICT = ConfigDict(extra="forbid", frozen=True)
# The pipeline stages every record, count and projection is split into.
STAGES = ("text_encode", "prior", "denoise", "decode")
# The memory options that move weights between the CPU and an accelerator (pipelines are built on the CPU).
OFFLOAD_OPTIONS = ("model_cpu_offload", "sequential_cpu_offload")
# The memory options that change how much VRAM a workload needs (attention slicing only trims activations), so
# the ones an automatic choice (``--memory auto``) and the model comparison try in turn.
VRAM_MEMORY_OPTIONS: tuple[MemoryOption, ...] = ("none", "model_cpu_offload", "sequential_cpu_offload")
# Outpainting without margins of its own extends every side by this many pixels: 768x768 -> 1024x1024, the
# guide's extension, and a multiple of every registered model's resolution multiple (64, 16, 8).
DEFAULT_OUTPAINT_EXPAND = 128


def parse_resolution(value: object) -> tuple[int, int]:
    """Accept ``"768x512"`` (width x height), ``768`` or ``[768, 512]``; return (width, height)."""
    if isinstance(value, bool):
        raise ValueError(f"resolution must be WIDTHxHEIGHT like 768x768, got {value!r}")
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    if isinstance(value, str) and (m := _RESOLUTION_RE.match(value)):
        return int(m.group(1)), int(m.group(2))
    raise ValueError(f"resolution must be WIDTHxHEIGHT like 768x768, got {value!r}")


def format_resolution(width: int, height: int) -> str:
    return f"{width}x{height}"


Attention = Literal["sdpa", "sdpa-math", "sdpa-flash", "sdpa-efficient", "xformers", "sliced"]
CompileMode = Literal["none", "default", "max-autotune", "regional"]
CacheKind = Literal["none", "first_block", "faster_cache", "pab"]
Quantization = Literal["none", "int8-weight-only", "fp8"]
# the optimisation axes a scenario sweeps (the cache parameters and the VAE compile flag ride along)
AXES = ("attention", "compile", "channels_last", "vae_tiling", "vae_slicing", "tf32", "cache", "quantization")


class Optimisation(BaseModel):
    """The speed settings of one run (``optimise:`` in a scenario); every default is the plain pipeline.

    Only settings away from their default enter the run key, so keys of runs without them stay stable.
    ``quality_threshold_db`` is how the run is judged, not what it computes, and is left out of the key.
    """

    model_config = STRICT

    attention: Attention = "sdpa"
    compile: CompileMode = "none"
    compile_vae: bool = False  # compile the VAE decoder too (with compile != none)
    channels_last: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False
    tf32: bool = False
    cache: CacheKind = "none"
    cache_threshold: float = 0.05  # first_block: relative change of the first block's output below which it reuses
    cache_skip_range: int = 2  # faster_cache / pab: attention recomputed every N-th step, reused between
    quantization: Quantization = "none"
    quality_threshold_db: float = 30.0  # PSNR vs the baseline cell below this is flagged "quality changed"

    def non_default(self) -> dict[str, str | bool | float | int]:
        """The settings away from their default, with the cache parameter the chosen cache reads."""
        default = Optimisation()
        out: dict[str, str | bool | float | int] = {
            name: getattr(self, name) for name in AXES if getattr(self, name) != getattr(default, name)
        }
        if self.compile != "none" and self.compile_vae:
            out["compile_vae"] = True
        if self.cache == "first_block":
            out["cache_threshold"] = self.cache_threshold
        elif self.cache != "none":
            out["cache_skip_range"] = self.cache_skip_range
        return out

    @property
    def key_part(self) -> str:
        """``opt=attention-sdpa-math,cache-first_block@0.05``: empty for the plain pipeline."""
        items = self.non_default()
        parts = []
        for name, value in items.items():
            if name in ("cache_threshold", "cache_skip_range", "compile_vae"):
                continue
            parts.append(name if value is True else f"{name}-{value}")
            if name == "cache":
                parts[-1] += f"@{self.cache_threshold:g}" if value == "first_block" else f"@{self.cache_skip_range}"
            if name == "compile" and self.compile_vae:
                parts[-1] += "+vae"
        return "opt=" + ",".join(parts) if parts else ""


class Outpaint(BaseModel):
    """Where an outpainting run places its source image (the run's resolution) on the larger canvas.

    The margins are the pixels added on each side; ``overlap`` is how far the mask reaches into the original
    beside each extended side, so the new border blends over the seam. The canvas size is stored beside them,
    so a record states both sizes without recomputing; :class:`RunSpec` checks that they agree.
    """

    model_config = STRICT

    left: int = Field(ge=0)
    right: int = Field(ge=0)
    top: int = Field(ge=0)
    bottom: int = Field(ge=0)
    overlap: int = Field(default=0, ge=0)
    canvas_width: int
    canvas_height: int

    @classmethod
    def around(
        cls, width: int, height: int, left: int, right: int, top: int, bottom: int, overlap: int = 0
    ) -> Outpaint:
        """The canvas a ``width`` x ``height`` source extends to with these margins."""
        return cls(
            left=left,
            right=right,
            top=top,
            bottom=bottom,
            overlap=overlap,
            canvas_width=width + left + right,
            canvas_height=height + top + bottom,
        )

    @model_validator(mode="after")
    def _check_overlap(self) -> Outpaint:
        """Some of the original stays outside the mask: the overlap reaches in from both sides at most."""
        width = self.canvas_width - self.left - self.right
        height = self.canvas_height - self.top - self.bottom
        if width < 1 or height < 1:
            raise ValueError(f"outpaint: the canvas {self.canvas_width}x{self.canvas_height} leaves no source image")
        limit = (min(width, height) - 1) // 2
        if self.overlap > limit:
            raise ValueError(
                f"outpaint.overlap: {self.overlap} pixels is too many for a {width}x{height} source; at most {limit},"
                " so part of the original stays unmasked"
            )
        return self

    @property
    def margins(self) -> tuple[int, int, int, int]:
        """(left, right, top, bottom): what the call plan needs; the overlap changes no work."""
        return self.left, self.right, self.top, self.bottom

    @property
    def key_part(self) -> str:
        """``outpaint=1024x1024@l128,r128,t128,b128`` (``,o16`` with an overlap): the canvas, then the margins."""
        key = f"outpaint={self.canvas_width}x{self.canvas_height}@l{self.left},r{self.right},t{self.top},b{self.bottom}"
        return key + (f",o{self.overlap}" if self.overlap else "")


class RunSpec(BaseModel):
    """One fully specified run: everything the child process needs to build and call the pipeline."""

    model_config = STRICT

    scenario: str
    scenario_file: str | None = None
    scenario_sha256: str | None = None
    model: str
    task: Task
    weights: WeightSource
    hub: dict[str, str] = Field(default_factory=dict)
    width: int
    height: int
    steps: int
    prior_steps: int | None = None
    batch_size: int = 1
    images_per_prompt: int = 1
    guidance_scale: float
    strength: float = 0.75
    mix_weights: tuple[float, ...] = (0.5, 0.5)
    dtype: Dtype
    device: str
    memory: MemoryOption = "none"
    language: Language = "en"
    prompt_set: str = "default"
    negative_prompt: str | None = None
    seed: int = 0
    warmup: int = 1
    repeats: int = 5
    max_repeats: int = 5
    target_ci: float = 0.02
    max_time_s: float = 600.0
    timeout_s: float = 1800.0
    memory_limit_mb: int | None = None
    cpu_threads: int | None = None
    refiner: bool = False
    gpu: str | None = None  # a GPU model a scheduler must place the run on (Ray accelerator_type); not in run_key
    optimise: Optimisation = Field(default_factory=Optimisation)  # speed settings; default: none
    outpaint: Outpaint | None = None  # task outpaint: the canvas the source (width x height) is placed on

    @model_validator(mode="after")
    def _check_outpaint(self) -> RunSpec:
        """An outpaint run names its canvas, and only an outpaint run: the canvas is what the pipeline makes."""
        if (self.task == "outpaint") != (self.outpaint is not None):
            raise ValueError("outpaint: task outpaint needs its canvas (outpaint margins), and no other task takes one")
        if self.outpaint is not None and self.canvas != (self.outpaint.canvas_width, self.outpaint.canvas_height):
            raise ValueError(
                f"outpaint: canvas {self.outpaint.canvas_width}x{self.outpaint.canvas_height} is not the source "
                f"{self.resolution} plus the margins {self.outpaint.margins}"
            )
        return self

    @property
    def resolution(self) -> str:
        """The source size: what the scenario's ``resolutions`` name (outpainting renders its larger canvas)."""
        return format_resolution(self.width, self.height)

    @property
    def canvas(self) -> tuple[int, int]:
        """(width, height) the pipeline is called at: the source size plus any outpainting margins."""
        if self.outpaint is None:
            return self.width, self.height
        left, right, top, bottom = self.outpaint.margins
        return self.width + left + right, self.height + top + bottom

    @property
    def images_per_call(self) -> int:
        return self.batch_size * self.images_per_prompt

    @property
    def run_key(self) -> str:
        """Identity of a run across result files: what must match for two runs to be comparable."""
        parts = [
            self.model,
            self.task,
            self.resolution,
            f"s{self.steps}",
            f"b{self.batch_size}x{self.images_per_prompt}",
            self.dtype,
            self.memory,
            self.weights,
            self.device.split(":")[0],
            self.language,
        ]
        if self.cpu_threads:  # only when pinned, so keys of ordinary runs stay stable
            parts.append(f"t{self.cpu_threads}")
        if self.refiner:  # only when on, so keys of runs without a refiner stay stable
            parts.append("refiner")
        if self.optimise.key_part:  # only with a speed setting away from its default
            parts.append(self.optimise.key_part)
        if self.outpaint is not None:  # only for outpainting, so keys of other tasks stay stable
            parts.append(self.outpaint.key_part)
        return "|".join(parts)


@dataclass(frozen=True)
class Workload:
    """What a pipeline call computes: the part of a run that sets FLOPs, bytes and memory.

    Weights, device and prompt language do not change the work, so runs that differ only there share one
    workload. How a model's pipeline turns a workload into component calls is its call plan
    (:mod:`bench.models.callplan`).
    """

    model: str
    task: str
    width: int
    height: int
    steps: int
    batch_size: int = 1
    images_per_prompt: int = 1
    dtype: str = "fp16"
    memory: str = "none"
    guidance_scale: float | None = None
    prior_steps: int | None = None
    strength: float = 0.75
    negative_prompt: bool = False
    refiner: bool = False
    mix_items: int = 2  # image mixing: the prompts and images blended (a prompt, an image, then prompts)
    # outpainting: pixels added (left, right, top, bottom) to the width x height source; None for other tasks
    outpaint: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        """Outpainting without margins extends every side by the default; other tasks carry none, so
        workloads that compute the same compare equal however they were built."""
        if self.task == "outpaint" and self.outpaint is None:
            object.__setattr__(self, "outpaint", (DEFAULT_OUTPAINT_EXPAND,) * 4)
        elif self.task != "outpaint" and self.outpaint is not None:
            object.__setattr__(self, "outpaint", None)

    @classmethod
    def from_spec(cls, spec: RunSpec) -> Workload:
        return cls(
            model=spec.model,
            task=spec.task,
            width=spec.width,
            height=spec.height,
            steps=spec.steps,
            batch_size=spec.batch_size,
            images_per_prompt=spec.images_per_prompt,
            dtype=spec.dtype,
            memory=spec.memory,
            guidance_scale=spec.guidance_scale,
            prior_steps=spec.prior_steps,
            strength=spec.strength,
            negative_prompt=bool(spec.negative_prompt),
            refiner=spec.refiner,
            mix_items=len(spec.mix_weights) if spec.task == "mix" else 2,
            outpaint=spec.outpaint.margins if spec.outpaint is not None else None,
        )

    @property
    def resolution(self) -> str:
        """The source size (outpainting renders the larger :attr:`canvas`)."""
        return format_resolution(self.width, self.height)

    @property
    def canvas(self) -> tuple[int, int]:
        """(width, height) the pipeline is called at: the source plus any outpainting margins."""
        if self.outpaint is None:
            return self.width, self.height
        left, right, top, bottom = self.outpaint
        return self.width + left + right, self.height + top + bottom

    @property
    def images_per_call(self) -> int:
        return self.batch_size * self.images_per_prompt

    def with_(self, **changes: Any) -> Workload:
        return replace(self, **changes)

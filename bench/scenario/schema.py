"""The scenario schema: pydantic models for a scenario file and one scenario entry, with every
per-field and cross-field rule, so a mistake is caught before any model load or GPU time."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from bench.errors import ScenarioError, clip
from bench.models.registry import MODELS, get_model, known_models, refiner_models
from bench.prompts import load_prompt_set
from bench.scenario.optimise import OPTIMISE_EXCLUDE_KEYS, OPTIMISE_EXCLUDE_VALUES, OptimiseAxes
from bench.scenario.outpaint import MAX_MARGIN, OutpaintBlock, check_outpaint, outpaint_settings
from bench.scenario.serve import ServeSpec, check_serve_hub
from bench.spec import STRICT, Dtype, Language, MemoryOption, Outpaint, Task, WeightSource, parse_resolution

MIN_SIDE = 64
EXCLUDE_KEYS = (
    "model",
    "task",
    "resolution",
    "steps",
    "batch_size",
    "images_per_prompt",
    "dtype",
    "memory",
    "language",
    "refiner",
    *OPTIMISE_EXCLUDE_KEYS,
)
_STRICT = ConfigDict(**STRICT, allow_inf_nan=False)  # every float field finite: .nan and .inf are mistakes
MAX_EXCLUDE = 200  # exclude entries are matched against every combination; more than this is a matrix to split
MAX_TEXT = 4096  # characters of a name, path, hub id or negative prompt
MAX_MEMORY_LIMIT_MB = 16 * 1024 * 1024  # 16 TiB: beyond any host, so a larger limit is a typo (1e30)
MAX_TIME_S = 7 * 24 * 3600.0
GPU_MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # a GPU model name such as A100 or H100-SXM
_EXCLUDE_TYPES: tuple[tuple[str, Any], ...] = (
    ("model", str),
    ("task", Task),
    ("steps", int),
    ("batch_size", int),
    ("images_per_prompt", int),
    ("dtype", Dtype),
    ("memory", MemoryOption),
    ("language", Language),
    ("refiner", bool),
)
_EXCLUDE_VALUES = {key: TypeAdapter(kind, config=ConfigDict(strict=True)) for key, kind in _EXCLUDE_TYPES}
_EXCLUDE_VALUES.update(OPTIMISE_EXCLUDE_VALUES)


class ScenarioSpec(BaseModel):
    """One scenario entry of a file; list-valued fields expand as a matrix."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=200)
    models: list[str] = Field(min_length=1)
    tasks: list[Task] = Field(default_factory=lambda: list[Task](["text2img"]), min_length=1)
    weights: WeightSource
    hub: dict[str, str] = Field(default_factory=dict, max_length=5)
    resolutions: list[tuple[int, int]] | None = None
    steps: list[int] | None = None
    prior_steps: int | None = Field(default=None, ge=2, le=1000)  # the 2.x priors' UnCLIPScheduler divides by steps - 1
    batch_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1)
    images_per_prompt: list[int] = Field(default_factory=lambda: [1], min_length=1)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=50.0)
    strength: float = Field(default=0.75, gt=0.0, le=1.0)
    mix_weights: list[float] = Field(default_factory=lambda: [0.5, 0.5], min_length=2)
    dtypes: list[Dtype] = Field(default_factory=lambda: list[Dtype](["fp16"]), min_length=1)
    device: str = "cuda"
    memory: list[MemoryOption] = Field(default_factory=lambda: list[MemoryOption](["none"]), min_length=1)
    languages: list[Language] = Field(default_factory=lambda: list[Language](["en"]), min_length=1)
    prompt_set: str = Field(default="default", min_length=1, max_length=MAX_TEXT)
    negative_prompt: str | None = Field(default=None, max_length=MAX_TEXT)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    warmup: int = Field(default=1, ge=0, le=100)
    repeats: int = Field(default=5, ge=1, le=1000)
    max_repeats: int | None = Field(default=None, ge=1, le=10000)
    target_ci: float = Field(default=0.02, gt=0.0, le=1.0)
    max_time_s: float = Field(default=600.0, gt=0.0, le=MAX_TIME_S)
    timeout_s: float = Field(default=1800.0, gt=0.0, le=7 * 24 * 3600)
    memory_limit_mb: int | None = Field(default=None, ge=64, le=MAX_MEMORY_LIMIT_MB)
    cpu_threads: int | None = Field(default=None, ge=1, le=1024)
    gpu: str | None = Field(default=None, pattern=GPU_MODEL_PATTERN)  # scale-out executors place runs by it
    refiner: list[bool] = Field(default_factory=lambda: [False], min_length=1)
    exclude: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_EXCLUDE)
    mode: Literal["isolated", "serve"] = "isolated"  # serve: a server under load (bench/serve/)
    serve: ServeSpec | None = None
    optimise: OptimiseAxes | None = None  # speed-setting axes (bench/scenario/optimise.py)
    outpaint: OutpaintBlock | None = None  # task outpaint: the margins around the source (bench/scenario/outpaint.py)
    expand: int | None = Field(default=None, ge=1, le=MAX_MARGIN)  # task outpaint: the same margin on every side

    @field_validator(
        "models", "tasks", "batch_sizes", "images_per_prompt", "dtypes", "memory", "languages", mode="before"
    )
    @classmethod
    def _scalar_to_list(cls, value: object) -> object:
        return [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value

    @field_validator("refiner", mode="before")
    @classmethod
    def _refiner_list(cls, value: object) -> object:
        return [value] if isinstance(value, bool) else value

    @field_validator("resolutions", mode="before")
    @classmethod
    def _parse_resolutions(cls, value: object) -> object:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValueError("needs at least one resolution like 768x768")
        return [parse_resolution(v) for v in items]

    @field_validator("steps", mode="before")
    @classmethod
    def _steps_list(cls, value: object) -> object:
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("steps")
    @classmethod
    def _check_steps(cls, value: list[int] | None) -> list[int] | None:
        for s in value or []:
            if not 1 <= s <= 1000:
                raise ValueError(f"steps must be between 1 and 1000, got {s}")
        return value

    @field_validator("batch_sizes", "images_per_prompt")
    @classmethod
    def _check_batch(cls, value: list[int]) -> list[int]:
        for b in value:
            if not 1 <= b <= 256:
                raise ValueError(f"must be between 1 and 256, got {b}")
        return value

    @field_validator("mix_weights")
    @classmethod
    def _check_mix(cls, value: list[float]) -> list[float]:
        if any(w < 0 for w in value) or sum(value) <= 0:
            raise ValueError(f"mix weights must be >= 0 with a positive sum, got {value}")
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
            raise ValueError(f"device must be cpu, cuda or cuda:N, got {value!r}")
        return value

    @field_validator("hub")
    @classmethod
    def _check_hub(cls, value: dict[str, str]) -> dict[str, str]:
        for role, source in value.items():
            if role not in ("prior", "decoder", "inpaint", "main", "refiner"):
                raise ValueError(
                    f"hub keys are pipeline roles (prior, decoder, inpaint, main, refiner), got {clip(role)}"
                )
            if not 0 < len(source) <= MAX_TEXT:
                raise ValueError(f"hub.{role}: a hub id or local directory of 1 to {MAX_TEXT} characters")
        return value

    @field_validator("prompt_set")
    @classmethod
    def _check_prompt_set(cls, value: str) -> str:
        """A prompt file is read now, as the run will read it: a bad one fails here, not after a model load."""
        if value != "default":
            try:
                load_prompt_set("en", value)
            except ScenarioError as exc:
                raise ValueError(str(exc).removeprefix("prompt_set: ")) from None
        return value

    @field_validator("exclude")
    @classmethod
    def _check_exclude(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each entry names known keys with values of their field's type; resolutions are parsed once here."""
        checked = []
        for i, entry in enumerate(value):
            unknown = sorted(map(str, set(entry) - set(EXCLUDE_KEYS)))
            if unknown or not entry:
                got = clip(unknown) if unknown else "none"
                raise ValueError(f"exclude[{i}]: keys must be among {', '.join(EXCLUDE_KEYS)}; got {got}")
            checked.append({key: _exclude_value(i, key, raw) for key, raw in entry.items()})
        return checked

    @model_validator(mode="after")
    def _check_models(self) -> ScenarioSpec:
        for model_id in self.models:
            if model_id not in MODELS:
                raise ValueError(f"models: unknown model {clip(model_id)}; known: {', '.join(known_models())}")
        for model_id in self.models:
            spec = get_model(model_id)
            for task in self.tasks:
                if task not in spec.tasks and not self._excluded_pair(model_id, task):
                    raise ValueError(
                        f"tasks: {model_id} does not support {task!r}; it supports {', '.join(spec.tasks)}"
                        " (use exclude: to drop the pair)"
                    )
            for w, h in self.resolutions or []:
                check_resolution(model_id, w, h)
        if self.outpaint is not None and self.expand is not None:
            raise ValueError("expand: give expand: N or an outpaint: block, not both")
        if "outpaint" in self.tasks:
            self._check_outpaint()
        if True in self.refiner:
            self._check_refiner()
        if self.max_repeats is not None and self.max_repeats < self.repeats:
            raise ValueError(f"max_repeats ({self.max_repeats}) must be >= repeats ({self.repeats})")
        if (self.mode == "serve") != (self.serve is not None):
            missing = "serve: mode serve needs a serve: block (server, arrivals, rates or concurrency)"
            raise ValueError(missing if self.serve is None else "mode: a serve: block needs mode: serve")
        if self.serve is not None and self.batch_sizes != [1]:
            raise ValueError("batch_sizes: a serve scenario batches by serve.max_batch; leave batch_sizes out")
        if self.serve is not None:
            check_serve_hub(self.weights, self.hub)
        if self.gpu is not None and not self.device.startswith("cuda"):
            raise ValueError(f"gpu: names the GPU model a CUDA run is placed on; device is {self.device!r}")
        if self.memory_limit_mb is not None and self.device.startswith("cuda"):
            # an address-space limit set before CUDA initialises makes context creation fail: every run an oom
            raise ValueError(
                "memory_limit_mb: applies to CPU runs only (an address-space limit breaks CUDA context creation);"
                " remove it or use device: cpu"
            )
        return self

    def _check_refiner(self) -> None:
        """``refiner: true`` needs a model with a refiner role and a task the refiner runs for."""
        allowed = refiner_models()
        for model_id in self.models:
            spec = get_model(model_id)
            if not spec.has_refiner:
                raise ValueError(
                    f"refiner: {model_id} has no refiner; true is allowed only for {', '.join(allowed) or 'no model'}"
                )
            for task in self.tasks:
                if task in spec.tasks and task not in spec.refiner_tasks:
                    raise ValueError(
                        f"refiner: {model_id} runs its refiner only for {', '.join(spec.refiner_tasks)}, not {task!r}"
                    )
        if any(s < 2 for s in self.steps or []):
            raise ValueError("refiner: needs steps >= 2 (the base and the refiner each run part of the schedule)")

    def _check_outpaint(self) -> None:
        """Every model that outpaints here can render the canvas of every source resolution."""
        margins, overlap, field = outpaint_settings(self.outpaint, self.expand)
        for model_id in self.models:
            model = get_model(model_id)
            if "outpaint" in model.tasks and not self._excluded_pair(model_id, "outpaint"):
                for w, h in self.resolutions or [model.default_resolution]:
                    check_outpaint(model_id, w, h, margins, overlap, field)

    def outpaint_for(self, model_id: str, task: str, width: int, height: int) -> Outpaint | None:
        """The canvas of an outpaint run (None for other tasks), as validated."""
        if task != "outpaint":
            return None
        margins, overlap, field = outpaint_settings(self.outpaint, self.expand)
        return check_outpaint(model_id, width, height, margins, overlap, field)

    def _excluded_pair(self, model_id: str, task: str) -> bool:
        return any(
            set(e) <= {"model", "task"} and e.get("model", model_id) == model_id and e.get("task", task) == task
            for e in self.exclude
        )


def _exclude_value(index: int, key: str, raw: object) -> object:
    """One value of an ``exclude:`` entry, checked like the scenario field it stands for."""
    if key == "resolution":
        try:
            return parse_resolution(raw)
        except ValueError as exc:
            raise ValueError(f"exclude[{index}].resolution: {str(exc).removeprefix('resolution ')}") from None
    try:
        return _EXCLUDE_VALUES[key].validate_python(raw)
    except ValidationError as err:
        detail = str(err.errors()[0]["msg"])
        raise ValueError(f"exclude[{index}].{key}: {detail}, got {clip(raw)}") from None


def check_resolution(model_id: str, width: int, height: int) -> None:
    """Raise ``ValueError`` (naming the ``resolutions`` rule) for a size the model cannot render exactly."""
    spec = get_model(model_id)
    m = spec.resolution_multiple
    for side in (width, height):
        if side % m or not MIN_SIDE <= side <= spec.max_resolution:
            raise ValueError(
                f"resolutions: {width}x{height} is not possible for {model_id}; width and height must be multiples of "
                f"{m} between {MIN_SIDE} and {spec.max_resolution}"
            )


class ScenarioFile(BaseModel):
    """A whole file: optional shared defaults plus a list of scenarios."""

    model_config = _STRICT

    name: str | None = None
    description: str | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    scenarios: list[dict[str, Any]] = Field(min_length=1)

"""Scenario files: YAML -> validated pydantic models -> a matrix of :class:`RunSpec`.

All user-input validation happens here, before anything heavy is imported, so a mistake
costs no model load and no GPU time. Errors name the file, the line, the field and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.errors import ScenarioError, located
from bench.models.registry import LANGUAGES, MODELS, get_model, known_models, refiner_models
from bench.yaml_files import read_yaml

WeightSource = Literal["hub", "random", "tiny"]
Dtype = Literal["fp32", "fp16", "bf16"]
MemoryOption = Literal["none", "model_cpu_offload", "sequential_cpu_offload", "attention_slicing"]
Task = Literal["text2img", "img2img", "inpaint", "mix"]
Language = Literal["en", "ru", "zh", "de"]

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
)
_RESOLUTION_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
_STRICT = ConfigDict(extra="forbid", frozen=True)


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


class RunSpec(BaseModel):
    """One fully specified run: everything the child process needs to build and call the pipeline."""

    model_config = _STRICT

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

    @property
    def resolution(self) -> str:
        return format_resolution(self.width, self.height)

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
        return "|".join(parts)


class ScenarioSpec(BaseModel):
    """One scenario entry of a file; list-valued fields expand as a matrix."""

    model_config = _STRICT

    name: str = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    tasks: list[Task] = Field(default_factory=lambda: list[Task](["text2img"]), min_length=1)
    weights: WeightSource
    hub: dict[str, str] = Field(default_factory=dict)
    resolutions: list[tuple[int, int]] | None = None
    steps: list[int] | None = None
    prior_steps: int | None = Field(default=None, ge=1, le=1000)
    batch_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1)
    images_per_prompt: list[int] = Field(default_factory=lambda: [1], min_length=1)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=50.0)
    strength: float = Field(default=0.75, gt=0.0, le=1.0)
    mix_weights: list[float] = Field(default_factory=lambda: [0.5, 0.5], min_length=2)
    dtypes: list[Dtype] = Field(default_factory=lambda: list[Dtype](["fp16"]), min_length=1)
    device: str = "cuda"
    memory: list[MemoryOption] = Field(default_factory=lambda: list[MemoryOption](["none"]), min_length=1)
    languages: list[Language] = Field(default_factory=lambda: list[Language](["en"]), min_length=1)
    prompt_set: str = "default"
    negative_prompt: str | None = None
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    warmup: int = Field(default=1, ge=0, le=100)
    repeats: int = Field(default=5, ge=1, le=1000)
    max_repeats: int | None = Field(default=None, ge=1, le=10000)
    target_ci: float = Field(default=0.02, gt=0.0, le=1.0)
    max_time_s: float = Field(default=600.0, gt=0.0)
    timeout_s: float = Field(default=1800.0, gt=0.0, le=7 * 24 * 3600)
    memory_limit_mb: int | None = Field(default=None, ge=64)
    cpu_threads: int | None = Field(default=None, ge=1, le=1024)
    refiner: list[bool] = Field(default_factory=lambda: [False], min_length=1)
    exclude: list[dict[str, Any]] = Field(default_factory=list)

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
        for role in value:
            if role not in ("prior", "decoder", "inpaint", "main", "refiner"):
                raise ValueError(f"hub keys are pipeline roles (prior, decoder, inpaint, main, refiner), got {role!r}")
        return value

    @model_validator(mode="after")
    def _check_models(self) -> ScenarioSpec:
        for model_id in self.models:
            if model_id not in MODELS:
                raise ValueError(f"models: unknown model {model_id!r}; known: {', '.join(known_models())}")
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
        if True in self.refiner:
            self._check_refiner()
        for i, entry in enumerate(self.exclude):
            unknown = sorted(set(entry) - set(EXCLUDE_KEYS))
            if unknown or not entry:
                raise ValueError(f"exclude[{i}]: keys must be among {', '.join(EXCLUDE_KEYS)}; got {unknown or 'none'}")
        if self.max_repeats is not None and self.max_repeats < self.repeats:
            raise ValueError(f"max_repeats ({self.max_repeats}) must be >= repeats ({self.repeats})")
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

    def _excluded_pair(self, model_id: str, task: str) -> bool:
        return any(
            set(e) <= {"model", "task"} and e.get("model", model_id) == model_id and e.get("task", task) == task
            for e in self.exclude
        )


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


def _matches(entry: dict[str, Any], values: dict[str, Any]) -> bool:
    for key, want in entry.items():
        have = values[key]
        if key == "resolution":
            want = parse_resolution(want)
        if have != want:
            return False
    return True


def expand(scenario: ScenarioSpec, *, source: str | None = None, sha256: str | None = None) -> list[RunSpec]:
    """Expand one scenario's matrix into runs, dropping excluded combinations."""
    runs: list[RunSpec] = []
    for model_id in scenario.models:
        model = get_model(model_id)
        resolutions = scenario.resolutions or [model.default_resolution]
        steps_list = scenario.steps or [model.default_steps]
        matrix = itertools.product(
            scenario.tasks,
            resolutions,
            steps_list,
            scenario.batch_sizes,
            scenario.images_per_prompt,
            scenario.dtypes,
            scenario.memory,
            scenario.languages,
            scenario.refiner,
        )
        for task, (width, height), steps, batch, ipp, dtype, memory, language, refiner in matrix:
            values = {
                "model": model_id,
                "task": task,
                "resolution": (width, height),
                "steps": steps,
                "batch_size": batch,
                "images_per_prompt": ipp,
                "dtype": dtype,
                "memory": memory,
                "language": language,
                "refiner": refiner,
            }
            if task not in model.tasks or any(_matches(e, values) for e in scenario.exclude):
                continue
            runs.append(
                RunSpec(
                    scenario=scenario.name,
                    scenario_file=source,
                    scenario_sha256=sha256,
                    model=model_id,
                    task=task,
                    weights=scenario.weights,
                    hub=dict(scenario.hub),
                    width=width,
                    height=height,
                    steps=steps,
                    prior_steps=scenario.prior_steps or model.prior_steps,
                    batch_size=batch,
                    images_per_prompt=ipp,
                    guidance_scale=model.default_guidance
                    if scenario.guidance_scale is None
                    else scenario.guidance_scale,
                    # a pipeline without a strength argument always runs the whole schedule
                    strength=scenario.strength if model.img2img_strength else 1.0,
                    mix_weights=tuple(scenario.mix_weights),
                    dtype=dtype,
                    device=scenario.device,
                    memory=memory,
                    language=language,
                    prompt_set=scenario.prompt_set,
                    negative_prompt=scenario.negative_prompt,
                    seed=scenario.seed,
                    warmup=scenario.warmup,
                    repeats=scenario.repeats,
                    max_repeats=scenario.max_repeats or scenario.repeats,
                    target_ci=scenario.target_ci,
                    max_time_s=scenario.max_time_s,
                    timeout_s=scenario.timeout_s,
                    memory_limit_mb=scenario.memory_limit_mb,
                    cpu_threads=scenario.cpu_threads,
                    refiner=refiner,
                )
            )
    return runs


# --- loading with line numbers ---------------------------------------------------------------------


def _node_line(node: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node reachable along ``path`` in a composed YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _field_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _first_error(err: ValidationError) -> tuple[tuple[int | str, ...], str]:
    e = err.errors()[0]
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith(("function-", "tuple["))))
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown field"
    elif e["type"] in ("literal_error",) and "expected" in e.get("ctx", {}):
        msg = f"must be one of {e['ctx']['expected']}, got {e.get('input')!r}"
    return loc, msg


def _allowed_fields(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def display_path(path: Path) -> str:
    """How a scenario file is named in results: relative to the working directory, ``bench/...`` for a
    bundled one, absolute only when neither applies (so results do not carry one machine's layout)."""
    resolved = path.resolve()
    for base, prefix in ((Path.cwd().resolve(), ""), (Path(__file__).resolve().parent, "bench/")):
        if resolved.is_relative_to(base):
            return prefix + resolved.relative_to(base).as_posix()
    return str(path)


def load_scenario_file(path: str | Path) -> list[RunSpec]:
    """Read, validate and expand one scenario file; raise :class:`ScenarioError` with file, line and field."""
    path = Path(path)
    text, data = read_yaml(path, ScenarioError, "scenario file")
    root = yaml.compose(text, Loader=yaml.SafeLoader)  # the node tree, for line numbers in errors
    if data is None:
        raise ScenarioError(
            located("empty scenario file; it needs a 'scenarios:' list or a single scenario", file=path)
        )
    if not isinstance(data, dict):
        raise ScenarioError(located("top level must be a mapping with a 'scenarios:' list", file=path))
    sha = hashlib.sha256(text.encode()).hexdigest()
    single = "scenarios" not in data
    if single:
        data = {"scenarios": [data]}
    try:
        file_model = ScenarioFile.model_validate(data)
    except ValidationError as err:
        loc, msg = _first_error(err)
        if msg == "unknown field":
            msg += f"; allowed top-level fields: {_allowed_fields(ScenarioFile)}"
        raise ScenarioError(f"{path}:{_node_line(root, loc)}: {_field_path(loc)}: {msg}") from None
    runs: list[RunSpec] = []
    seen_names: set[str] = set()
    for index, raw in enumerate(file_model.scenarios):
        yaml_path: list[str | int] = [] if single else ["scenarios", index]
        if not isinstance(raw, dict):
            raise ScenarioError(f"{path}:{_node_line(root, yaml_path)}: scenarios[{index}]: must be a mapping")
        merged = {**file_model.defaults, **raw}
        merged.setdefault("name", f"{file_model.name or path.stem}-{index}")
        try:
            scenario = ScenarioSpec.model_validate(merged)
        except ValidationError as err:
            loc, msg = _first_error(err)
            if msg == "unknown field":
                msg += f"; allowed: {_allowed_fields(ScenarioSpec)}"
            if not loc and (m := re.match(r"^(\w+): (.*)$", msg, re.S)):  # cross-field check names its field
                loc, msg = (m.group(1),), m.group(2)
            line = _node_line(root, [*yaml_path, *loc]) if loc and loc[0] in raw else _node_line(root, yaml_path)
            raise ScenarioError(f"{path}:{line}: scenario {merged.get('name')!r}: {_field_path(loc)}: {msg}") from None
        if scenario.name in seen_names:
            raise ScenarioError(f"{path}:{_node_line(root, yaml_path)}: scenario name {scenario.name!r} is used twice")
        seen_names.add(scenario.name)
        runs.extend(expand(scenario, source=display_path(path), sha256=sha))
    if not runs:
        raise ScenarioError(located("every combination is excluded; nothing to run", file=path))
    return runs


def load_scenarios(paths: Sequence[str | Path]) -> list[RunSpec]:
    """Load several files; a run key that appears twice across them is an error."""
    runs: list[RunSpec] = []
    keys: dict[str, str] = {}
    for p in paths:
        for run in load_scenario_file(p):
            if run.run_key in keys:
                raise ScenarioError(
                    located(f"run {run.run_key} is already defined in scenario {keys[run.run_key]!r}", file=p)
                )
            keys[run.run_key] = run.scenario
            runs.append(run)
    return runs


__all__ = [
    "EXCLUDE_KEYS",
    "LANGUAGES",
    "RunSpec",
    "ScenarioSpec",
    "check_resolution",
    "expand",
    "format_resolution",
    "load_scenario_file",
    "load_scenarios",
    "parse_resolution",
]

"""The published datasets the projection is checked against: timings (``bench/data/published_timings.yaml``) and
peak memory (``bench/data/published_vram.yaml``); their schema, loading, and each row's workload.

Each timing row is one published figure of a diffusion pipeline on one catalog GPU, with its source, date, software
stack, dtype, attention backend, batch and engine, and the reason it is like-for-like with what the projection
models (stock diffusers pipeline, eager PyTorch, fused attention). ``use: fit`` rows calibrate and validate the model;
``exclude`` rows (torch.compile, TensorRT) and ``check`` rows (setup unknown, or fp32: its kernels would bend the
efficiencies every half-precision projection shares) are shown, never fitted. ``tf32: true``
says fp32 matmuls ran on TF32 tensor cores (``torch.set_float32_matmul_precision("high")``), and the row is projected
so. A VRAM row is one published peak with the same conditions and what the figure counts (``basis``: the caching
allocator's peak, its reserved peak, or the whole device as nvidia-smi shows it). Loading is strict: an unknown field,
a missing source or reason, a compiled row marked ``fit``, or a number no published benchmark has (a value that is
not finite or outside :data:`MIN_VALUE`..:data:`MAX_VALUE`, more steps, prompts or images than a scenario may ask
for) is a one-line error naming the file, the row and the field: the projection's fit would otherwise take the log
of zero or build a workload of 1e30 images.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.cost.catalog import Catalog, GpuSpec
from bench.cost.counting.profile import WorkloadProfile, profile_workload
from bench.cost.counting.reference import REFERENCE_MODELS, reference_profile
from bench.cost.roofline import denoiser_kind
from bench.errors import CatalogError, located
from bench.models.registry import MODELS
from bench.spec import Workload, parse_resolution
from bench.yaml_files import read_yaml

TIMINGS_SCHEMA_VERSION = 1
FUSED_ATTENTION = ("sdpa", "xformers", "flash-attention")
_UNITS = {"step": ("it_per_s", "s_per_step"), "image": ("s_per_image",), "call": ("s_per_call",)}
_DATE_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are typos
# A published figure in its unit (it/s, s/step, s/image or s/call): a millionth to a million covers every GPU
# and pipeline; outside it, 1 / value or a log leaves the finite floats the fit needs.
MIN_VALUE = 1e-6
MAX_VALUE = 1e6
MAX_STEPS = 1000  # the most a scenario may ask for (bench/scenario/schema.py)
MAX_BATCH = 256  # prompts per call, and images per prompt: the scenario limits
MAX_PEAK_GIB = 4096.0  # no single GPU holds more


class PublishedConditions(BaseModel):
    """What a published figure ran: model, GPU, workload, software stack, and where the figure was read."""

    model_config = _STRICT

    id: str = Field(min_length=1)
    gpu: str
    model: str
    task: Literal["text2img"] = "text2img"
    resolution: str
    steps: int = Field(ge=1, le=MAX_STEPS)
    batch_size: int = Field(ge=1, le=MAX_BATCH)  # prompts per pipeline call
    images_per_prompt: int = Field(default=1, ge=1, le=MAX_BATCH)
    dtype: Literal["fp16", "bf16", "fp32"]
    memory: Literal["none", "model_cpu_offload", "sequential_cpu_offload"] = "none"
    attention: str = Field(min_length=1)
    stack: str = Field(min_length=1)
    date: str
    source: str
    why: str = Field(min_length=20)
    note: str | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _check_date(cls, value: object) -> str:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not _DATE_RE.match(text):
            raise ValueError(f"must be YYYY, YYYY-MM or YYYY-MM-DD, got {value!r}")
        return text

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be the URL the figure was read from")
        return value

    @field_validator("resolution")
    @classmethod
    def _check_resolution(cls, value: str) -> str:
        parse_resolution(value)
        return value

    @property
    def images(self) -> int:
        return self.batch_size * self.images_per_prompt

    def workload(self) -> Workload:
        width, height = parse_resolution(self.resolution)
        return Workload(
            model=self.model,
            task=self.task,
            width=width,
            height=height,
            steps=self.steps,
            batch_size=self.batch_size,
            images_per_prompt=self.images_per_prompt,
            dtype=self.dtype,
            memory=self.memory,
        )


class PublishedRow(PublishedConditions):
    """One published timing and the conditions it was measured under."""

    measure: Literal["step", "image", "call"]
    unit: Literal["it_per_s", "s_per_step", "s_per_image", "s_per_call"]
    value: float = Field(ge=MIN_VALUE, le=MAX_VALUE)
    engine: Literal["eager", "torch.compile", "tensorrt", "unknown"]
    use: Literal["fit", "check", "exclude"]
    tf32: bool = False  # fp32 matmuls on TF32 tensor cores (matters for fp32 rows only)

    @model_validator(mode="after")
    def _check_conditions(self) -> PublishedRow:
        if self.unit not in _UNITS[self.measure]:
            raise ValueError(
                f"unit {self.unit!r} does not time a {self.measure!r}; use {' or '.join(_UNITS[self.measure])}"
            )
        if self.use == "fit" and self.engine != "eager":
            raise ValueError(f"a {self.engine} row is not like-for-like with eager PyTorch: use 'exclude'")
        if self.use == "fit" and self.attention not in FUSED_ATTENTION:
            raise ValueError(f"attention {self.attention!r} is not a fused kernel ({', '.join(FUSED_ATTENTION)})")
        return self

    @property
    def seconds(self) -> float:
        """The published figure in seconds of what it times (a step, an image, or a call)."""
        return 1.0 / self.value if self.unit == "it_per_s" else self.value


class PublishedVram(PublishedConditions):
    """One published peak of device memory and the conditions it was measured under."""

    peak_gib: float = Field(gt=0, le=MAX_PEAK_GIB)  # GiB (2**30 bytes), as the source computes it
    basis: Literal["allocated", "reserved", "device"]  # max_memory_allocated / max_memory_reserved / nvidia-smi

    @model_validator(mode="after")
    def _check_attention(self) -> PublishedVram:
        if self.attention not in FUSED_ATTENTION:
            raise ValueError(f"attention {self.attention!r} is not a fused kernel ({', '.join(FUSED_ATTENTION)})")
        return self


class TimingsFile(BaseModel):
    model_config = _STRICT

    schema_version: int = TIMINGS_SCHEMA_VERSION
    rows: list[PublishedRow] = Field(min_length=1)


class VramFile(BaseModel):
    model_config = _STRICT

    schema_version: int = TIMINGS_SCHEMA_VERSION
    rows: list[PublishedVram] = Field(min_length=1)


def bundled_timings_path() -> Path:
    return Path(str(resources.files("bench") / "data" / "published_timings.yaml"))


def bundled_vram_path() -> Path:
    return Path(str(resources.files("bench") / "data" / "published_vram.yaml"))


def dataset_sha256(path: Path | None = None) -> str:
    """SHA-256 of the dataset file: the constants record which data they were fitted to."""
    return hashlib.sha256((path or bundled_timings_path()).read_bytes()).hexdigest()


def load_timings(catalog: Catalog, path: Path | None = None) -> list[PublishedRow]:
    """Read and validate the timings dataset; every row's GPU must be in ``catalog`` and its model known.

    Raises:
        CatalogError: naming the file, the row id and the field of the first problem.
    """
    return _load(catalog, path or bundled_timings_path(), TimingsFile, "published timings").rows


def load_vram(catalog: Catalog, path: Path | None = None) -> list[PublishedVram]:
    """Read and validate the peak-memory dataset, as strictly as the timings (:func:`load_timings`)."""
    return _load(catalog, path or bundled_vram_path(), VramFile, "published VRAM peaks").rows


_File = TypeVar("_File", TimingsFile, VramFile)


def _load(catalog: Catalog, path: Path, file_model: type[_File], what: str) -> _File:
    _, data = read_yaml(path, CatalogError, what)
    if not isinstance(data, dict):
        raise CatalogError(located("top level must be a mapping with a 'rows:' list", file=path))
    try:
        parsed = file_model.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        loc = list(e["loc"])
        rows = data.get("rows")
        if len(loc) >= 2 and loc[0] == "rows" and isinstance(loc[1], int) and isinstance(rows, list):
            entry = rows[loc[1]] if loc[1] < len(rows) else None
            label = entry.get("id") if isinstance(entry, dict) else None
            loc[1] = f"[{label or loc[1]}]"
        where = ".".join(str(p) for p in loc).replace(".[", "[")
        msg = "unknown field" if e["type"] == "extra_forbidden" else str(e["msg"]).removeprefix("Value error, ")
        raise CatalogError(located(msg, file=path, field=where)) from None
    if parsed.schema_version > TIMINGS_SCHEMA_VERSION:
        raise CatalogError(located("newer than this kbench reads", file=path, field="schema_version"))
    seen: set[str] = set()
    for row in parsed.rows:
        field = f"rows[{row.id}]"
        if row.id in seen:
            raise CatalogError(located(f"id {row.id!r} is listed twice", file=path, field=field))
        seen.add(row.id)
        if row.gpu not in catalog.gpus:
            raise CatalogError(located(f"unknown GPU {row.gpu!r}", file=path, field=f"{field}.gpu"))
        if row.model not in MODELS and row.model not in REFERENCE_MODELS:
            raise CatalogError(located(f"unknown model {row.model!r}", file=path, field=f"{field}.model"))
    return parsed


def row_profile(row: PublishedConditions) -> WorkloadProfile:
    """The counted workload of a row: a registered model's call plan, or a reference SD pipeline."""
    w = row.workload()
    return reference_profile(w) if row.model in REFERENCE_MODELS else profile_workload(w)


def model_family(model: str) -> str:
    """The family a model's errors are grouped by: its registry family, or ``sd`` for the reference models."""
    return "sd" if model in REFERENCE_MODELS else MODELS[model].family


@dataclass(frozen=True)
class RowCase:
    """A row with its catalog GPU and counted workload, ready to project."""

    row: PublishedRow
    gpu: GpuSpec
    profile: WorkloadProfile


__all__ = [
    "PublishedConditions",
    "PublishedRow",
    "PublishedVram",
    "RowCase",
    "bundled_timings_path",
    "bundled_vram_path",
    "dataset_sha256",
    "denoiser_kind",
    "load_timings",
    "load_vram",
    "model_family",
    "row_profile",
]

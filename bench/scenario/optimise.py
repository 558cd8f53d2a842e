"""The ``optimise:`` section of a scenario: speed-setting axes that expand as a matrix with the workload's.

Each list is an axis; ``mode: one-at-a-time`` runs the baseline plus each listed value alone instead of
their product (six axes of four values each are 24 runs, not 4,096). The baseline cell (every axis at its
default) always runs first for each workload, so the quality guard has images to compare with; ``exclude:``
can still drop it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from bench.spec import AXES, STRICT, Attention, CacheKind, CompileMode, Optimisation, Quantization

_STRICT = ConfigDict(**STRICT, allow_inf_nan=False)
OPTIMISE_EXCLUDE_TYPES: tuple[tuple[str, Any], ...] = (
    ("attention", Attention),
    ("compile", CompileMode),
    ("channels_last", bool),
    ("vae_tiling", bool),
    ("vae_slicing", bool),
    ("tf32", bool),
    ("cache", CacheKind),
    ("quantization", Quantization),
)
OPTIMISE_EXCLUDE_KEYS = tuple(key for key, _ in OPTIMISE_EXCLUDE_TYPES)
_STRICT_VALUE = ConfigDict(strict=True)
OPTIMISE_EXCLUDE_VALUES = {key: TypeAdapter(kind, config=_STRICT_VALUE) for key, kind in OPTIMISE_EXCLUDE_TYPES}


class OptimiseAxes(BaseModel):
    """Lists of speed settings to sweep; the scalar fields are parameters every cell shares."""

    model_config = _STRICT

    attention: list[Attention] = Field(default_factory=lambda: list[Attention](["sdpa"]), min_length=1)
    compile: list[CompileMode] = Field(default_factory=lambda: list[CompileMode](["none"]), min_length=1)
    compile_vae: bool = False
    channels_last: list[bool] = Field(default_factory=lambda: [False], min_length=1)
    vae_tiling: list[bool] = Field(default_factory=lambda: [False], min_length=1)
    vae_slicing: list[bool] = Field(default_factory=lambda: [False], min_length=1)
    tf32: list[bool] = Field(default_factory=lambda: [False], min_length=1)
    cache: list[CacheKind] = Field(default_factory=lambda: list[CacheKind](["none"]), min_length=1)
    cache_threshold: float = Field(default=0.05, gt=0.0, le=1.0)
    cache_skip_range: int = Field(default=2, ge=2, le=100)
    quantization: list[Quantization] = Field(default_factory=lambda: list[Quantization](["none"]), min_length=1)
    quality_threshold_db: float = Field(default=30.0, gt=0.0, le=200.0)
    mode: Literal["matrix", "one-at-a-time"] = "matrix"

    @field_validator("attention", "compile", "cache", "quantization", mode="before")
    @classmethod
    def _scalar_to_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("channels_last", "vae_tiling", "vae_slicing", "tf32", mode="before")
    @classmethod
    def _bool_to_list(cls, value: object) -> object:
        return [value] if isinstance(value, bool) else value

    @field_validator(
        "attention", "compile", "cache", "quantization", "channels_last", "vae_tiling", "vae_slicing", "tf32"
    )
    @classmethod
    def _no_repeats(cls, value: list[Any]) -> list[Any]:
        if len(set(value)) != len(value):
            raise ValueError(f"each value once, got {value}")
        return value

    def size(self) -> int:
        """How many cells the section expands to per workload (before ``exclude:``)."""
        return sum(1 for _ in self.cells())

    def cells(self) -> Iterator[Optimisation]:
        """Every cell, the baseline first, then the matrix (or each value alone) in the order the lists give."""
        shared = {
            "compile_vae": self.compile_vae,
            "cache_threshold": self.cache_threshold,
            "cache_skip_range": self.cache_skip_range,
            "quality_threshold_db": self.quality_threshold_db,
        }
        baseline = Optimisation(**shared)
        yield baseline
        default = Optimisation()
        if self.mode == "one-at-a-time":
            for axis in AXES:
                for value in getattr(self, axis):
                    if value != getattr(default, axis):
                        yield Optimisation(**shared, **{axis: value})
            return
        for values in itertools.product(*(getattr(self, axis) for axis in AXES)):
            cell = Optimisation(**shared, **dict(zip(AXES, values, strict=True)))
            if cell.key_part:  # the baseline came first
                yield cell


def axis_values(cell: Optimisation) -> dict[str, Any]:
    """The cell's values under the ``exclude:`` keys."""
    return {key: getattr(cell, key) for key in OPTIMISE_EXCLUDE_KEYS}


__all__ = ["OPTIMISE_EXCLUDE_KEYS", "OPTIMISE_EXCLUDE_TYPES", "OPTIMISE_EXCLUDE_VALUES", "OptimiseAxes", "axis_values"]

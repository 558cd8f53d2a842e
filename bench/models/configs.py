"""The component configs shipped with the package: full-size (``random`` weights) and small (``tiny``).

A leaf of the models room, so the call plans (scheduler spacing for the SDXL refiner split) and the
builders read the same files without importing each other.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from bench.errors import ModelError

WeightsKind = Literal["random", "tiny"]


@lru_cache(maxsize=256)
def _config_text(weights: str, stem: str) -> str:
    folder = "full" if weights == "random" else "tiny"
    try:
        return (
            resources.files("bench.models")
            .joinpath("configs")
            .joinpath(folder)
            .joinpath(f"{stem}.json")
            .read_text(encoding="utf-8")
        )
    except FileNotFoundError:
        raise ModelError(f"no {folder} config {stem}.json shipped for this component") from None


def load_config(stem: str, weights: WeightsKind) -> dict[str, Any]:
    """The shipped config of a component (full-size for ``random``, small for ``tiny``)."""
    config: dict[str, Any] = json.loads(_config_text(weights, stem))
    return config

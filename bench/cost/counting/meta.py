"""Full-size components built on the meta device (shapes only: no weights, no memory, no GPU)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def torch_dtype(dtype: str) -> torch.dtype:
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]


@contextmanager
def quiet() -> Iterator[None]:
    import logging
    import warnings

    logger = logging.getLogger("diffusers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@functools.lru_cache(maxsize=16)
def build_components(model_id: str, role: str, dtype: str) -> dict[str, Any]:
    """A role's full-size components on meta (cached: meta modules cost no memory)."""
    from bench.models.build import build_role_components

    with quiet():
        built: dict[str, Any] = build_role_components(
            model_id, role, weights="random", device="meta", dtype=torch_dtype(dtype)
        )
    return built


def meta_tensor(*shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    import torch

    return torch.empty(shape, device="meta", dtype=dtype or torch.float16)

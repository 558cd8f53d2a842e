"""Builders of test inputs shared by the suite and the benchmarks."""

from __future__ import annotations

from typing import Any

from bench.spec import RunSpec

TINY_CPU: dict[str, Any] = {
    "scenario": "t",
    "model": "kandinsky-2.2",
    "task": "text2img",
    "weights": "tiny",
    "width": 64,
    "height": 64,
    "steps": 2,
    "prior_steps": 2,
    "guidance_scale": 4.0,
    "dtype": "fp32",
    "device": "cpu",
}


def tiny_spec(**overrides: Any) -> RunSpec:
    """A tiny-weight CPU run (64x64, 2 steps) with any field overridden."""
    return RunSpec(**{**TINY_CPU, **overrides})

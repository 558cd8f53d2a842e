"""Builders of test inputs shared by the suite and the benchmarks."""

from __future__ import annotations

from typing import Any

from bench.spec import Outpaint, RunSpec

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


# outpainting margins (left, right, top, bottom) of a tiny run: uneven, and one side left as it is, so a
# swapped or dropped margin changes the canvas (64x64 -> 112x80); multiples of every tiny latent grid
TINY_OUTPAINT = (32, 16, 16, 0)


def tiny_spec(**overrides: Any) -> RunSpec:
    """A tiny-weight CPU run (64x64, 2 steps) with any field overridden; outpainting gets the tiny margins."""
    fields = {**TINY_CPU, **overrides}
    if fields["task"] == "outpaint" and "outpaint" not in fields:
        fields["outpaint"] = Outpaint.around(fields["width"], fields["height"], *TINY_OUTPAINT)
    return RunSpec(**fields)

"""Outpainting in a scenario: the ``outpaint:`` block (or the ``expand: N`` shorthand) and the sizes each model
can render, checked before any model load.

The scenario's ``resolutions`` are the source image; the canvas adds the margins, and the inpainting pipeline
renders the canvas, so both the margins and the canvas must suit the model: each margin a multiple of the
model's resolution multiple (the source then sits on the latent grid and the canvas stays a size the model
renders), every canvas side within the model's largest size.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.models.registry import get_model
from bench.spec import DEFAULT_OUTPAINT_EXPAND, STRICT, Outpaint

MAX_MARGIN = 4096  # beyond every model's largest side: a larger margin is a typo
SIDES = ("left", "right", "top", "bottom")


class OutpaintBlock(BaseModel):
    """``outpaint: {left, right, top, bottom, overlap}`` in pixels, or ``{expand: N, overlap}`` on every side."""

    model_config = ConfigDict(**STRICT, allow_inf_nan=False)

    left: int = Field(default=0, ge=0, le=MAX_MARGIN)
    right: int = Field(default=0, ge=0, le=MAX_MARGIN)
    top: int = Field(default=0, ge=0, le=MAX_MARGIN)
    bottom: int = Field(default=0, ge=0, le=MAX_MARGIN)
    expand: int | None = Field(default=None, ge=1, le=MAX_MARGIN)
    overlap: int = Field(default=0, ge=0, le=MAX_MARGIN)

    @model_validator(mode="after")
    def _one_way(self) -> OutpaintBlock:
        sides = [s for s in SIDES if getattr(self, s)]
        if self.expand is not None and sides:
            raise ValueError(f"outpaint.expand: give expand or the sides ({', '.join(SIDES)}), not both")
        if self.expand is None and not sides:
            raise ValueError(f"outpaint: extend at least one side ({', '.join(SIDES)}) or give expand: N")
        return self

    @property
    def margins(self) -> tuple[int, int, int, int]:
        """(left, right, top, bottom)."""
        if self.expand is not None:
            return (self.expand,) * 4
        return self.left, self.right, self.top, self.bottom


def outpaint_settings(block: OutpaintBlock | None, expand: int | None) -> tuple[tuple[int, int, int, int], int, str]:
    """(margins, overlap, the field a size mistake names) of a scenario: its block, ``expand: N``, or the default."""
    if block is not None:
        field = "outpaint.expand" if block.expand is not None else "outpaint"
        return block.margins, block.overlap, field
    if expand is not None:
        return (expand,) * 4, 0, "expand"
    return (DEFAULT_OUTPAINT_EXPAND,) * 4, 0, "outpaint"


def check_outpaint(
    model_id: str, width: int, height: int, margins: tuple[int, int, int, int], overlap: int, field: str = "outpaint"
) -> Outpaint:
    """The canvas of a ``width`` x ``height`` source with these margins; ``ValueError`` naming ``field`` (or the
    side) and what is allowed where the model cannot render it."""
    model = get_model(model_id)
    m = model.resolution_multiple
    for side, margin in zip(SIDES, margins, strict=True):
        if margin % m:
            name = field if field.endswith("expand") else f"{field}.{side}"
            raise ValueError(
                f"{name}: {margin} is not possible for {model_id}; margins must be multiples of {m} pixels"
            )
    left, right, top, bottom = margins
    canvas = (width + left + right, height + top + bottom)
    if max(canvas) > model.max_resolution:
        raise ValueError(
            f"{field}: the canvas {canvas[0]}x{canvas[1]} ({width}x{height} plus margins left {left}, right {right}, "
            f"top {top}, bottom {bottom}) is not possible for {model_id}; its sides must be at most "
            f"{model.max_resolution}"
        )
    try:
        return Outpaint.around(width, height, left, right, top, bottom, overlap)
    except ValidationError as err:
        raise ValueError(str(err.errors()[0]["msg"]).removeprefix("Value error, ")) from None

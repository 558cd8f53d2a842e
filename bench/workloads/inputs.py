"""Synthetic inputs: deterministic source images, in- and outpainting masks, functions of the run's seed and size.

Two runs of the same spec therefore do the same work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from bench.spec import Outpaint


def synthetic_image(width: int, height: int, seed: int) -> Image.Image:
    """A deterministic RGB test image (gradients and shapes), standing in for a user's input photo."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = (x / max(width - 1, 1)) * 255
    g = (y / max(height - 1, 1)) * 255
    b = ((np.sin(x / 17.0) + np.cos(y / 23.0)) * 0.25 + 0.5) * 255
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 8, (height, width, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def inpaint_mask(width: int, height: int) -> Any:
    """A float mask (1 = repaint) covering the centre quarter of the image."""
    import numpy as np

    mask = np.zeros((height, width), dtype=np.float32)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1.0
    return mask


def as_mask_image(mask: Any) -> Image.Image:
    """A float mask (1 = repaint) as a greyscale image (white = repaint), the form every diffusers pipeline accepts."""
    import numpy as np
    from PIL import Image

    return Image.fromarray((mask * 255).astype(np.uint8), "L")


def outpaint_image(width: int, height: int, seed: int, outpaint: Outpaint) -> Image.Image:
    """The source image placed on the canvas, its edge pixels carried out over the new border.

    Pipelines that start from the noised input (SDXL, FLUX.1 at their default strength below 1) begin the
    border from this fill, so it continues the image as outpainting tools do rather than a flat colour; the
    2.x decoders see only the kept region. Either way the work is the same as for any fill.
    """
    import numpy as np
    from PIL import Image

    source = np.asarray(synthetic_image(width, height, seed))
    pad = ((outpaint.top, outpaint.bottom), (outpaint.left, outpaint.right), (0, 0))
    return Image.fromarray(np.pad(source, pad, mode="edge"), "RGB")


def outpaint_mask(width: int, height: int, outpaint: Outpaint) -> Any:
    """A float canvas mask (1 = repaint): the new border, and ``overlap`` pixels of the original beside each
    extended side (a side without a margin keeps the original up to the canvas edge).

    A hard edge: the inpainting pipelines binarise their masks at 0.5, so a feathered ramp would be cut there.
    """
    import numpy as np

    mask = np.ones((outpaint.canvas_height, outpaint.canvas_width), dtype=np.float32)
    grow = outpaint.overlap
    top = outpaint.top + (grow if outpaint.top else 0)
    bottom = outpaint.top + height - (grow if outpaint.bottom else 0)
    left = outpaint.left + (grow if outpaint.left else 0)
    right = outpaint.left + width - (grow if outpaint.right else 0)
    mask[top:bottom, left:right] = 0.0
    return mask

"""Synthetic inputs: deterministic source images and inpainting masks, functions of the run's seed and size.

Two runs of the same spec therefore do the same work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image


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


def mask_image(width: int, height: int) -> Image.Image:
    """The inpainting mask as a greyscale image (white = repaint), the form every diffusers pipeline accepts."""
    import numpy as np
    from PIL import Image

    return Image.fromarray((inpaint_mask(width, height) * 255).astype(np.uint8), "L")

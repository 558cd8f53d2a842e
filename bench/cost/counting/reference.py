"""The Stable Diffusion 1.5 reference UNet, counted like the registered models.

The projection's default efficiencies are fitted to published SD 1.5 timings, so its step is counted by the
same op counter as the full-size models.
"""

from __future__ import annotations

import functools
from typing import Any

from bench.cost.counting.inputs import component_call
from bench.cost.counting.meta import quiet, torch_dtype
from bench.cost.counting.ops import OpCount, count_call, module_weight_bytes


@functools.lru_cache(maxsize=8)
def count_sd15_unet_step(batch: int, width: int, height: int, dtype: str = "fp16") -> OpCount:
    """One CFG step of the Stable Diffusion 1.5 UNet at ``batch`` images (the UNet sees 2·batch).

    SD 1.5's UNet is diffusers' ``UNet2DConditionModel`` default architecture (320/640/1280/1280 channels,
    2 layers per block, 8 heads) with 768-wide text cross-attention (CLIP ViT-L/14, as
    ``k21_prior_text_encoder.json``), 77 text tokens, latents at 1/8 of the image.
    """
    import torch
    from diffusers import UNet2DConditionModel

    with quiet(), torch.device("meta"):
        unet: Any = UNet2DConditionModel(cross_attention_dim=768)
        unet = unet.to(torch_dtype(dtype)).eval()
    fn, args, kwargs = component_call("unet", unet, 2 * batch, height // 8, width // 8, torch_dtype(dtype))
    return count_call(fn, *args, weight_bytes=module_weight_bytes(unet), **kwargs)

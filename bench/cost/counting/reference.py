"""Stable Diffusion 1.5 and 2.1: reference pipelines counted like the registered models.

The projection is fitted to published timings, and the most-published models are not in the registry (they are
not Kandinsky models, nor the comparison models). Their components are built on ``meta`` from their published
architectures, called with the shapes diffusers' ``StableDiffusionPipeline`` uses, and counted by the same op
counter, so a published SD timing tests the same model as a Kandinsky projection.

* **SD 1.5** (``runwayml/stable-diffusion-v1-5``): CLIP ViT-L/14 text encoder (12 layers, 768 wide, quick-GELU),
  diffusers' default ``UNet2DConditionModel`` (320/640/1280/1280 channels, 8 heads) with 768-wide
  cross-attention, the 4-level ``AutoencoderKL`` (128/256/512/512).
* **SD 2.1** (``stabilityai/stable-diffusion-2-1``): OpenCLIP ViT-H/14 text encoder (23 layers, 1024 wide,
  GELU), the UNet with 1024-wide cross-attention, head dims 5/10/20/20 (64 channels per head) and linear
  projections in its transformers, the same VAE.

Both run the UNet on the prompt and the negative prompt (classifier-free guidance, default scale 7.5), so a
step is one UNet call at twice the image batch; text encoding runs once for the prompts and once for the
(empty) negatives at 77 tokens; the VAE decodes every image once.
"""

from __future__ import annotations

import functools
from typing import Any

from bench.cost.counting.cache import cached_count
from bench.cost.counting.inputs import component_call
from bench.cost.counting.meta import quiet, torch_dtype
from bench.cost.counting.ops import OpCount, count_call, largest_leaf_bytes, module_weight_bytes, parameter_leaves
from bench.cost.counting.profile import StagePart, WorkloadProfile
from bench.models.quiet_import import import_diffusers
from bench.spec import Workload

REFERENCE_MODELS = ("sd-1.5", "sd-2.1")
VAE_SCALE = 8  # latents are 1/8 of the image side
_TEXT: dict[str, dict[str, Any]] = {
    "sd-1.5": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
               "hidden_act": "quick_gelu", "projection_dim": 768},
    "sd-2.1": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 23, "num_attention_heads": 16,
               "hidden_act": "gelu", "projection_dim": 1024},
}  # fmt: skip
_UNET: dict[str, dict[str, Any]] = {
    "sd-1.5": {"cross_attention_dim": 768},
    "sd-2.1": {"cross_attention_dim": 1024, "attention_head_dim": [5, 10, 20, 20], "use_linear_projection": True},
}
_VAE: dict[str, Any] = {
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "latent_channels": 4,
}


@functools.lru_cache(maxsize=8)
def _build(model: str, name: str, dtype: str) -> Any:
    import torch

    diffusers = import_diffusers()
    AutoencoderKL, UNet2DConditionModel = diffusers.AutoencoderKL, diffusers.UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with quiet(), torch.device("meta"):
        if name == "text_encoder":
            module: Any = CLIPTextModel(CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, **_TEXT[model]))
        elif name == "unet":
            module = UNet2DConditionModel(**_UNET[model])
        else:
            module = AutoencoderKL(**_VAE)
        return module.to(torch_dtype(dtype)).eval()


def _check(model: str) -> None:
    if model not in REFERENCE_MODELS:
        raise ValueError(f"unknown reference model {model!r}; known: {', '.join(REFERENCE_MODELS)}")


def count_reference_call(model: str, name: str, batch: int, width: int, height: int, dtype: str = "fp16") -> OpCount:
    """One call of a reference component (``text_encoder``, ``unet``, ``vae``) at ``batch`` rows (cached)."""
    _check(model)
    dtype = "fp16" if dtype == "bf16" else dtype  # same sizes and shapes

    if name == "text_encoder":
        width = height = 0  # the prompt length (77 tokens) alone sets its shapes

    def count() -> OpCount:
        module = _build(model, name, dtype)
        fn, args, kwargs = component_call(
            name, module, batch, height // VAE_SCALE, width // VAE_SCALE, torch_dtype(dtype)
        )
        with quiet():
            return count_call(fn, *args, weight_bytes=module_weight_bytes(module), **kwargs)

    return _counted(("reference", model, name, batch, width, height, dtype), count)


_MEMO: dict[tuple[object, ...], OpCount] = {}


def _counted(key: tuple[object, ...], count: Any) -> OpCount:
    """In-process and disk cache of a reference count."""
    if key not in _MEMO:
        _MEMO[key] = cached_count(key, count)
    return _MEMO[key]


@functools.lru_cache(maxsize=64)
def reference_profile(w: Workload) -> WorkloadProfile:
    """Every component call of one ``StableDiffusionPipeline`` call of a reference model (text-to-image, CFG)."""
    _check(w.model)
    images = w.batch_size * w.images_per_prompt
    unet = count_reference_call(w.model, "unet", 2 * images, w.width, w.height, w.dtype)
    vae = count_reference_call(w.model, "vae", images, w.width, w.height, w.dtype)
    parts = (
        StagePart("text_encode", "main", "text_encoder", w.batch_size, 2.0, _text_count(w), w.dtype),
        StagePart("denoise", "main", "unet", 2 * images, float(w.steps), unet, w.dtype),
        StagePart("decode", "main", "vae", images, 1.0, vae, w.dtype),
    )
    weights: dict[str, int] = {}
    leaves: dict[str, int] = {}
    modules: dict[str, int] = {}
    for name in ("text_encoder", "unet", "vae"):
        module = _build(w.model, name, "fp32" if w.dtype == "fp32" else "fp16")
        weights[f"main/{name}"] = module_weight_bytes(module)
        leaves[f"main/{name}"] = largest_leaf_bytes(module)
        modules[f"main/{name}"] = parameter_leaves(module)
    return WorkloadProfile(
        workload=w,
        parts=parts,
        weights_by_component=weights,
        largest_leaf_bytes=leaves,
        images=images,
        leaf_modules=modules,
    )


def _text_count(w: Workload) -> OpCount:
    return count_reference_call(w.model, "text_encoder", w.batch_size, w.width, w.height, w.dtype)

"""Meta-device inputs that reproduce how a pipeline calls each component.

The shapes that vary with the workload (batch, latent size, prompt tokens, source image) come from the
model's call plan (:class:`bench.models.types.ComponentCall`); what each component's forward takes, and the
encoder families' default prompt lengths, are here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.cost.counting.meta import meta_tensor as _meta
from bench.models.callplan import (
    CLIP_TOKENS,
    FLUX_T5_TOKENS,
    K3_CONTEXT_TOKENS,
    K3_TEXT_TOKENS,
    K5_I2I_MARKER_TOKENS,
    K5_I2I_TEMPLATE_TOKENS,
    K5_PROMPT_TOKENS,
    K5_TEMPLATE_TOKENS,
    k5_image_tokens,
    k5_patch_grid,
)

if TYPE_CHECKING:
    import torch

# SDXL base and refiner pool the OpenCLIP ViT-bigG text projection (sdxl_text_encoder_2.json projection_dim).
SDXL_POOLED_DIM = 1280


def _qwen_vision_call(module: Any, batch: int, image_hw: tuple[int, int], dtype: torch.dtype) -> Callable[[], Any]:
    """The vision tower on ``batch`` source images: its window and position indices come from the real grid."""
    import torch
    from transformers.vision_utils import (
        get_vision_attention_seqlens,
        get_vision_position_ids,
        get_vision_window_index,
    )

    visual = module.model.visual
    cfg = visual.config
    rows, cols = k5_patch_grid(image_hw[1], image_hw[0])
    grid = torch.tensor([[1, rows, cols]] * batch)  # one frame (the image is repeated to the temporal patch of 2)
    position_ids = get_vision_position_ids(grid, visual.spatial_merge_size, kwargs={})
    cu_seqlens, _ = get_vision_attention_seqlens(grid, cfg, kwargs={})
    window_index, cu_window_seqlens = get_vision_window_index(
        grid,
        spatial_merge_size=visual.spatial_merge_size,
        window_size=visual.window_size,
        patch_size=visual.patch_size,
        kwargs={},
    )
    pixels = _meta(batch * rows * cols, cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size**2, dtype=dtype)
    return lambda: visual(
        pixels,
        grid_thw=grid,
        position_ids=position_ids.to("meta"),
        window_index=window_index.to("meta"),
        cu_seqlens=cu_seqlens,
        cu_window_seqlens=cu_window_seqlens,
    )


def _text_encoder_call(
    module: Any, batch: int, dtype: torch.dtype, text_tokens: int | None, image_hw: tuple[int, int] | None = None
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    """How each text encoder is called: token counts per encoder family (see the constants above).

    ``image_hw`` (Kandinsky 5 I2I): Qwen2.5-VL also reads a source image of that (height, width): its vision
    tower runs, then the language model on the template, the prompt, the image tokens and their markers.
    """
    import torch

    cls = type(module).__name__
    long = torch.long
    if cls == "T5EncoderModel":
        # No attention mask: an all-ones mask costs the same, and a meta mask cannot be inspected.
        return module, (), {"input_ids": _meta(batch, text_tokens or K3_TEXT_TOKENS, dtype=long)}
    if cls == "MultilingualCLIP":  # XLM-R without a mask (a meta mask cannot be inspected); the pooling
        # and the 1024->768 projection after it are negligible
        return module.transformer, (), {"input_ids": _meta(batch, CLIP_TOKENS, dtype=long)}
    if cls == "Qwen2_5_VLForConditionalGeneration" and image_hw is not None:
        image_tokens = k5_image_tokens(image_hw[1], image_hw[0])[1]
        tokens = K5_I2I_TEMPLATE_TOKENS + (text_tokens or K5_PROMPT_TOKENS) + image_tokens + K5_I2I_MARKER_TOKENS
        vision = _qwen_vision_call(module, batch, image_hw, dtype)
        ids = _meta(batch, tokens, dtype=long)

        def vision_then_language() -> Any:
            vision()  # the image features replace the <|image_pad|> embeddings: same language-model cost
            return module(input_ids=ids, output_hidden_states=True)

        return vision_then_language, (), {}
    if cls == "Qwen2_5_VLForConditionalGeneration":  # the whole model runs, LM head included, as in diffusers
        tokens = K5_TEMPLATE_TOKENS + (text_tokens or K5_PROMPT_TOKENS)
        return module, (), {"input_ids": _meta(batch, tokens, dtype=long), "output_hidden_states": True}
    return module, (), {"input_ids": _meta(batch, CLIP_TOKENS, dtype=long)}


def _transformer_call(
    module: Any, batch: int, lat_h: int, lat_w: int, dtype: torch.dtype, text_tokens: int | None
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    """FLUX.1 (packed 2x2 latent patches, joint text+image attention) and Kandinsky 5 (5-D latents, 2x2 patches)."""
    import torch

    cfg = module.config
    cls = type(module).__name__
    t = _meta(batch, dtype=dtype)
    if cls == "FluxTransformer2DModel":
        tokens, img = text_tokens or FLUX_T5_TOKENS, (lat_h // 2) * (lat_w // 2)
        kwargs: dict[str, Any] = {
            "hidden_states": _meta(batch, img, cfg.in_channels, dtype=dtype),
            "encoder_hidden_states": _meta(batch, tokens, cfg.joint_attention_dim, dtype=dtype),
            "pooled_projections": _meta(batch, cfg.pooled_projection_dim, dtype=dtype),
            "timestep": t,
            "img_ids": _meta(img, 3, dtype=dtype),
            "txt_ids": _meta(tokens, 3, dtype=dtype),
            "return_dict": False,
        }
        if cfg.guidance_embeds:  # [dev]: the distilled guidance scale enters as an embedding
            kwargs["guidance"] = _meta(batch, dtype=torch.float32)
        return module, (), kwargs
    if cls == "Kandinsky5Transformer3DModel":
        tokens = text_tokens or K5_PROMPT_TOKENS
        channels = 2 * cfg.in_visual_dim + 1 if cfg.visual_cond else cfg.in_visual_dim
        visual_pos = [torch.arange(n, device="meta") for n in (1, lat_h // 2, lat_w // 2)]
        kwargs = {
            # visual_cond (I2I): noise latent, source-image latent and a ones channel, concatenated
            "hidden_states": _meta(batch, 1, lat_h, lat_w, channels, dtype=dtype),
            "encoder_hidden_states": _meta(batch, tokens, cfg.in_text_dim, dtype=dtype),
            "pooled_projections": _meta(batch, cfg.in_text_dim2, dtype=dtype),
            "timestep": t,
            "visual_rope_pos": visual_pos,
            "text_rope_pos": torch.arange(tokens, device="meta"),
            "scale_factor": [1.0, 1.0, 1.0],
            "sparse_params": None,
            "return_dict": False,
        }
        return module, (), kwargs
    raise ValueError(f"no counting recipe for transformer class {cls}")


def _unet_call(
    module: Any, batch: int, lat_h: int, lat_w: int, dtype: torch.dtype, text_tokens: int | None = None
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    import torch

    cfg = module.config
    long = torch.long
    sample = _meta(batch, cfg.in_channels, lat_h, lat_w, dtype=dtype)
    t = torch.zeros((batch,), device="meta", dtype=long)
    if type(module).__name__ == "Kandinsky3UNet":
        context = text_tokens or K3_CONTEXT_TOKENS
        ctx = _meta(batch, context, cfg.encoder_hid_dim, dtype=dtype)
        mask = _meta(batch, context, dtype=long)
        return module, (sample, t), {"encoder_hidden_states": ctx, "encoder_attention_mask": mask}
    kwargs: dict[str, Any] = {"encoder_hidden_states": None, "added_cond_kwargs": {}}
    if cfg.encoder_hid_dim_type == "text_image_proj":  # Kandinsky 2.1: M-CLIP tokens + CLIP embeddings
        kwargs["encoder_hidden_states"] = _meta(batch, CLIP_TOKENS, cfg.encoder_hid_dim, dtype=dtype)
        kwargs["added_cond_kwargs"] = {
            "text_embeds": _meta(batch, cfg.cross_attention_dim, dtype=dtype),
            "image_embeds": _meta(batch, cfg.cross_attention_dim, dtype=dtype),
        }
    elif cfg.encoder_hid_dim_type == "image_proj":  # Kandinsky 2.2: CLIP image embedding only
        kwargs["added_cond_kwargs"] = {"image_embeds": _meta(batch, cfg.encoder_hid_dim, dtype=dtype)}
    elif cfg.addition_embed_type == "text_time":  # SDXL: both encoders' tokens + pooled text and 6 size/crop ids
        # pooled text is OpenCLIP bigG's 1280-wide projection; the rest are 256-wide embeddings of the ids:
        # 6 in the base (size, crop, target size), 5 in the refiner (size, crop, aesthetic score)
        pooled = SDXL_POOLED_DIM
        time_ids = (cfg.projection_class_embeddings_input_dim - pooled) // cfg.addition_time_embed_dim
        kwargs["encoder_hidden_states"] = _meta(batch, CLIP_TOKENS, cfg.cross_attention_dim, dtype=dtype)
        kwargs["added_cond_kwargs"] = {
            "text_embeds": _meta(batch, pooled, dtype=dtype),
            "time_ids": _meta(batch, time_ids, dtype=dtype),
        }
    else:  # plain text cross-attention (the SD 1.5 reference UNet)
        kwargs["encoder_hidden_states"] = _meta(batch, CLIP_TOKENS, cfg.cross_attention_dim, dtype=dtype)
    return module, (sample, t), kwargs


def component_call(
    name: str,
    module: Any,
    batch: int,
    lat_h: int,
    lat_w: int,
    dtype: torch.dtype,
    text_tokens: int | None = None,
    image_hw: tuple[int, int] | None = None,
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    """The callable and meta inputs that reproduce how the pipeline calls ``name``.

    ``text_tokens`` overrides the encoder family's default prompt length (FLUX's T5 length, Kandinsky 5's
    prompt length); None keeps the encoder family's default (see bench.models.callplan). ``image_hw``: the source
    image a Kandinsky 5 I2I text encoder also reads.
    """
    import torch

    if name in ("text_encoder", "text_encoder_2"):
        return _text_encoder_call(module, batch, dtype, text_tokens, image_hw if name == "text_encoder" else None)
    if name == "image_encoder":
        size = module.config.image_size
        return module, (), {"pixel_values": _meta(batch, 3, size, size, dtype=dtype)}
    if name == "prior":
        long = torch.long
        emb, tokens = module.config.embedding_dim, module.config.num_embeddings
        prior_kwargs = {
            "hidden_states": _meta(batch, emb, dtype=dtype),
            "timestep": torch.zeros((), device="meta", dtype=long),
            "proj_embedding": _meta(batch, emb, dtype=dtype),
            "encoder_hidden_states": _meta(batch, tokens, emb, dtype=dtype),
            "attention_mask": _meta(batch, tokens, dtype=torch.bool),
        }
        return module, (), prior_kwargs
    if name == "unet":
        return _unet_call(module, batch, lat_h, lat_w, dtype, text_tokens)
    if name == "transformer":
        return _transformer_call(module, batch, lat_h, lat_w, dtype, text_tokens)
    if name == "movq":
        latent = _meta(batch, module.config.latent_channels, lat_h, lat_w, dtype=dtype)
        return module.decode, (latent,), {"force_not_quantize": True}
    if name == "vae":  # AutoencoderKL: only the decoder runs in text-to-image
        latent = _meta(batch, module.config.latent_channels, lat_h, lat_w, dtype=dtype)
        return module.decode, (latent,), {"return_dict": False}
    raise ValueError(f"no counting recipe for component {name!r}")

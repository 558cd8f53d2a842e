"""FLOPs, bytes moved and activation memory per pipeline stage, counted on the meta device.

The full-size models are built on ``meta`` by ``bench.models.build`` (shapes only: no weights, no memory, no
GPU) and run once per component under a dispatch mode that sees every aten op. For each op that launches a
kernel we record:

- **FLOPs** from PyTorch's own formulas (``torch.utils.flop_counter``): 2 per multiply-add of matmuls and
  convolutions; element-wise ops count 0 FLOPs (they are bandwidth-bound and the roofline charges their bytes).
- **Bytes** = bytes of every tensor the op reads plus every tensor it writes, each tensor counted once at the
  size of the memory it spans (broadcast views are not multiplied). Eager PyTorch launches one kernel per
  aten op and each kernel reads its inputs from and writes its outputs to device memory, so this is the
  DRAM traffic of an eager run without cache reuse. Parameters are counted each time an op reads them.
- **Attention** (``F.scaled_dot_product_attention``) is counted as one fused kernel, as the flash / memory-
  efficient kernels run on a GPU: FLOPs ``4·batch·heads·Lq·Lk·d`` and bytes of Q, K, V, mask and output
  (the attention matrix is never written to memory).
- **Activation peak**: the largest total of live tensors the ops produced (plus the inputs), tracked by
  freeing each tensor's bytes when it is garbage-collected.

Every model is counted this way, with no analytic fallback: the SDXL UNet (with its ``text_time`` added
conditioning), the FLUX.1 transformer on packed 2x2 latents with T5 at ``max_sequence_length``, and the
Kandinsky 5 transformer and its Qwen2.5-VL encoder (LM head included, as the pipeline runs the whole model).
A dense transformer's count is *not* ``2 x parameters x tokens``: FLUX.1's 11.9 B parameters include 3.3 B of
AdaLN modulation and embedding weights applied once per image, not per token, so its step is about 0.68 of
that rule at 1024x1024 (``tests/cost/test_flops.py`` checks the per-layer count).

Counts are cached per (model, role, component, batch, latent size, dtype) in-process; a full-size UNet step
takes well under a second to count, the 8.9 B-parameter FLAN-UL2 encoder a few seconds.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.models.registry import get_model
from bench.scenario import RunSpec, format_resolution

if TYPE_CHECKING:
    import torch

STAGES = ("text_encode", "prior", "denoise", "decode")
DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}
# Component name -> stage it runs in.
COMPONENT_STAGE = {
    "text_encoder": "text_encode",
    "text_encoder_2": "text_encode",
    "prior": "prior",
    "image_encoder": "prior",
    "unet": "denoise",
    "transformer": "denoise",
    "movq": "decode",
    "vae": "decode",
}
DENOISERS = ("unet", "transformer")
# Kandinsky 3 pads prompts to 128 T5 tokens for the encoder (Kandinsky3Pipeline.encode_prompt, max_length 128)
# and then cuts the context to the longest prompt + 1; the UNet's cross-attention length is therefore
# prompt-dependent. 32 tokens is an assumption for a one-sentence prompt; cross-attention is a small share.
K3_TEXT_TOKENS = 128
K3_CONTEXT_TOKENS = 32
# CLIP and M-CLIP encode 77 tokens (the CLIP context length in the shipped configs).
CLIP_TOKENS = 77
MOVQ_SCALE = 8  # latent side = image side / 8 for every shipped MoVQ (4 blocks: 2**3)
VAE_SCALE = 8  # SDXL, FLUX.1 and Kandinsky 5 AutoencoderKL: 4 blocks, latent side = image side / 8
# Kandinsky 5 (Kandinsky5T2IPipeline._encode_prompt_qwen) wraps the prompt in a chat template, runs Qwen2.5-VL
# on template + prompt padded to the longest prompt (not to max_sequence_length), and keeps the hidden states
# from token 40 on (prompt_template_encode_start_idx). The transformer's text length is therefore
# prompt-dependent; K5_PROMPT_TOKENS is the same one-sentence assumption as K3_CONTEXT_TOKENS.
K5_TEMPLATE_TOKENS = 40
K5_PROMPT_TOKENS = 32
# Kandinsky 5 I2I (Kandinsky5I2IPipeline._encode_prompt_qwen): the template puts the source image after the
# prompt (<|vision_start|><|image_pad|>...<|vision_end|><|im_end|>) and keeps the hidden states from token 54
# on, so the transformer's text context is prompt + image tokens + those 3 markers. The image is halved
# before the Qwen2-VL processor resizes each side to a multiple of patch 14 x merge 2 = 28 (smart_resize); the
# vision tower runs on every 14x14 patch (2 frames deep), the language model on one token per 2x2 patches.
K5_I2I_TEMPLATE_TOKENS = 54
K5_I2I_MARKER_TOKENS = 3
# FLUX.1 pads T5 prompts to max_sequence_length (FluxPipeline._get_t5_prompt_embeds, padding="max_length");
# the registry's call_options carry it (dev 512, schnell 256). 512 is the pipeline default.
FLUX_T5_TOKENS = 512
# SDXL base and refiner pool the OpenCLIP ViT-bigG text projection (sdxl_text_encoder_2.json projection_dim).
SDXL_POOLED_DIM = 1280
# How every count here is made; no component falls back to an analytic count.
METHOD = "counted on meta"


@dataclass(frozen=True)
class OpCount:
    """One call of one module: per-kernel FLOPs and bytes, plus its weight and activation memory."""

    flops: np.ndarray
    bytes: np.ndarray
    weight_bytes: int
    activation_peak_bytes: int

    @property
    def total_flops(self) -> float:
        return float(self.flops.sum())

    @property
    def total_bytes(self) -> float:
        return float(self.bytes.sum())

    @property
    def kernels(self) -> int:
        return int(self.flops.size)


@dataclass(frozen=True)
class Workload:
    """What a pipeline call computes: the part of a run that sets FLOPs, bytes and memory."""

    model: str
    task: str
    width: int
    height: int
    steps: int
    batch_size: int = 1
    images_per_prompt: int = 1
    dtype: str = "fp16"
    memory: str = "none"
    guidance_scale: float | None = None
    prior_steps: int | None = None
    strength: float = 0.75
    negative_prompt: bool = False
    refiner: bool = False

    @classmethod
    def from_spec(cls, spec: RunSpec) -> Workload:
        return cls(
            model=spec.model,
            task=spec.task,
            width=spec.width,
            height=spec.height,
            steps=spec.steps,
            batch_size=spec.batch_size,
            images_per_prompt=spec.images_per_prompt,
            dtype=spec.dtype,
            memory=spec.memory,
            guidance_scale=spec.guidance_scale,
            prior_steps=spec.prior_steps,
            strength=spec.strength,
            negative_prompt=bool(spec.negative_prompt),
            refiner=spec.refiner,
        )

    @property
    def resolution(self) -> str:
        return format_resolution(self.width, self.height)

    @property
    def images_per_call(self) -> int:
        return self.batch_size * self.images_per_prompt

    @property
    def cfg(self) -> bool:
        """Classifier-free guidance doubles the denoiser work when guidance > 1, as diffusers does.

        FLUX.1 never does: [dev] feeds guidance to a distilled guidance embedding and [schnell] ignores it, so
        each step is one transformer pass (FluxPipeline's separate ``true_cfg_scale`` is not a run option).
        """
        model = get_model(self.model)
        if model.family == "flux1":
            return False
        scale = model.default_guidance if self.guidance_scale is None else self.guidance_scale
        return scale > 1.0

    @property
    def denoise_steps(self) -> int:
        """img2img runs only the last ``strength`` fraction of the schedule (Kandinsky 5 I2I: all of it)."""
        if self.task == "img2img" and get_model(self.model).img2img_strength:
            return max(1, int(self.steps * self.strength))
        return self.steps

    def with_(self, **changes: Any) -> Workload:
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class StagePart:
    """One component's share of a stage: called ``repeats`` times per pipeline call at ``batch``."""

    stage: str
    role: str
    component: str
    batch: int
    repeats: float
    count: OpCount


@dataclass(frozen=True)
class WorkloadProfile:
    """All counted parts of one workload, with per-image totals by stage."""

    workload: Workload
    parts: tuple[StagePart, ...]
    weights_by_component: dict[str, int] = field(default_factory=dict)  # "role/component" -> weight bytes
    largest_leaf_bytes: dict[str, int] = field(default_factory=dict)  # "role/component" -> biggest leaf module

    def stage_parts(self, stage: str) -> list[StagePart]:
        return [p for p in self.parts if p.stage == stage]

    def stage_flops_per_image(self, stage: str) -> float:
        return sum(p.repeats * p.count.total_flops for p in self.stage_parts(stage)) / self.workload.images_per_call

    def stage_bytes_per_image(self, stage: str) -> float:
        return sum(p.repeats * p.count.total_bytes for p in self.stage_parts(stage)) / self.workload.images_per_call

    def flops_per_image(self) -> float:
        return sum(self.stage_flops_per_image(s) for s in STAGES)

    def bytes_per_image(self) -> float:
        return sum(self.stage_bytes_per_image(s) for s in STAGES)


# --- the counting modes ---------------------------------------------------------------------------------


def _span_bytes(t: torch.Tensor) -> int:
    """Bytes of the memory a tensor spans: broadcast (stride-0) dimensions count once."""
    if t.numel() == 0:
        return 0
    elements = 1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride(), strict=True) if s > 1 and st > 0)
    return int(elements * t.element_size())


class _Tally:
    """Accumulates per-kernel FLOPs/bytes and live activation bytes for one counted call."""

    def __init__(self) -> None:
        self.flops: list[float] = []
        self.bytes: list[float] = []
        self.live = 0
        self.peak = 0

    def add_kernel(self, flops: float, nbytes: float) -> None:
        self.flops.append(float(flops))
        self.bytes.append(float(nbytes))

    def track(self, t: torch.Tensor) -> None:
        nbytes = _span_bytes(t)
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(t, self._free, nbytes)

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes


@functools.cache
def _modes() -> tuple[type, type]:
    """Build the two mode classes lazily so importing this module does not import torch."""
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    from torch.utils.flop_counter import flop_registry

    aten = torch.ops.aten
    no_kernel = {
        aten.empty.memory_format,
        aten.empty_strided.default,
        aten.detach.default,
        aten.lift_fresh.default,
        aten.alias.default,
        aten._local_scalar_dense.default,
    }

    class Dispatch(TorchDispatchMode):
        def __init__(self, tally: _Tally) -> None:
            super().__init__()
            self.tally = tally

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if func in no_kernel or getattr(func, "is_view", False):
                return out
            ins = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
            outs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
            if not outs:
                return out
            formula = flop_registry.get(func._overloadpacket)
            flops = formula(*args, **kwargs, out_val=out) if formula is not None else 0
            self.tally.add_kernel(flops, sum(_span_bytes(t) for t in (*ins, *outs)))
            for o in outs:
                self.tally.track(o)
            return out

    class Function(TorchFunctionMode):
        """Count SDPA as one fused kernel and skip its math decomposition."""

        def __init__(self, tally: _Tally) -> None:
            super().__init__()
            self.tally = tally

        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            if func is not torch.nn.functional.scaled_dot_product_attention:
                return func(*args, **kwargs)
            names = ("query", "key", "value", "attn_mask")
            given = dict(zip(names, args, strict=False)) | {n: kwargs[n] for n in names if n in kwargs}
            q, k, v, mask = given["query"], given["key"], given["value"], given.get("attn_mask")
            out = torch.empty((*q.shape[:-1], v.shape[-1]), dtype=q.dtype, device=q.device)
            rows = float(np.prod(q.shape[:-1]))
            flops = 2.0 * rows * k.shape[-2] * q.shape[-1] + 2.0 * rows * k.shape[-2] * v.shape[-1]
            tensors = [q, k, v, out, *([mask] if isinstance(mask, torch.Tensor) else [])]
            self.tally.add_kernel(flops, sum(_span_bytes(t) for t in tensors))
            self.tally.track(out)
            return out

    return Dispatch, Function


def module_weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    tensors = [*module.parameters(), *module.buffers()]
    return int(sum(t.numel() * t.element_size() for t in tensors))


def largest_leaf_bytes(module: torch.nn.Module) -> int:
    """Bytes of the largest leaf module (what sequential CPU offload holds on the GPU at once)."""
    sizes = [
        sum(t.numel() * t.element_size() for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)))
        for m in module.modules()
    ]
    return int(max(sizes, default=0))


def count_call(fn: Callable[..., Any], *args: Any, weight_bytes: int = 0, **kwargs: Any) -> OpCount:
    """Run ``fn(*args, **kwargs)`` once under the counting modes and return its per-kernel counts.

    Works on meta tensors (no memory) and on real CPU tensors alike.
    """
    import torch
    from torch.utils._pytree import tree_flatten

    dispatch_cls, function_cls = _modes()
    tally = _Tally()
    inputs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
    tally.live = tally.peak = sum(_span_bytes(t) for t in inputs)
    with torch.no_grad(), function_cls(tally), dispatch_cls(tally):
        result = fn(*args, **kwargs)
    del result
    return OpCount(
        flops=np.asarray(tally.flops, dtype=np.float64),
        bytes=np.asarray(tally.bytes, dtype=np.float64),
        weight_bytes=weight_bytes,
        activation_peak_bytes=int(tally.peak),
    )


def count_module(module: torch.nn.Module, *args: Any, **kwargs: Any) -> OpCount:
    """Count one forward call of ``module``; its weights are included in ``weight_bytes``."""
    return count_call(module, *args, weight_bytes=module_weight_bytes(module), **kwargs)


# --- building full-size components on meta ----------------------------------------------------------


def _torch_dtype(dtype: str) -> torch.dtype:
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[dtype]


@contextmanager
def _quiet() -> Iterator[None]:
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

    with _quiet():
        built: dict[str, Any] = build_role_components(
            model_id, role, weights="random", device="meta", dtype=_torch_dtype(dtype)
        )
    return built


# --- inputs per component -------------------------------------------------------------------------------


def _meta(*shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    import torch

    return torch.empty(shape, device="meta", dtype=dtype or torch.float16)


K5_VISION_PATCH = 14  # k5_t2i_text_encoder.json vision_config patch_size / spatial_merge_size
K5_VISION_MERGE = 2


def _k5_patch_grid(width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of 14x14 patches Kandinsky 5 I2I's vision tower sees for one source image."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize  # no torchvision

    h, w = smart_resize(height // 2, width // 2, factor=K5_VISION_PATCH * K5_VISION_MERGE)
    return h // K5_VISION_PATCH, w // K5_VISION_PATCH


def k5_image_tokens(width: int, height: int) -> tuple[int, int]:
    """(vision-tower patches, language-model image tokens) Kandinsky 5 I2I's Qwen2.5-VL sees for one source image.

    As the pipeline and the processor do it: halve the image, round each side to a multiple of 28 within the
    processor's pixel bounds (``smart_resize``), one patch per 14x14, one token per 2x2 patches.
    At 1024x1024: 512 -> 504 per side, 36 x 36 = 1296 patches, 324 tokens.
    """
    rows, cols = _k5_patch_grid(width, height)
    return rows * cols, rows * cols // K5_VISION_MERGE**2


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
    rows, cols = _k5_patch_grid(image_hw[1], image_hw[0])
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
    module: Any, batch: int, lat_h: int, lat_w: int, dtype: torch.dtype
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    import torch

    cfg = module.config
    long = torch.long
    sample = _meta(batch, cfg.in_channels, lat_h, lat_w, dtype=dtype)
    t = torch.zeros((batch,), device="meta", dtype=long)
    if type(module).__name__ == "Kandinsky3UNet":
        ctx = _meta(batch, K3_CONTEXT_TOKENS, cfg.encoder_hid_dim, dtype=dtype)
        mask = _meta(batch, K3_CONTEXT_TOKENS, dtype=long)
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


def _component_call(
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
    prompt length); None keeps the defaults documented at the top of the module. ``image_hw``: the source
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
        return _unet_call(module, batch, lat_h, lat_w, dtype)
    if name == "transformer":
        return _transformer_call(module, batch, lat_h, lat_w, dtype, text_tokens)
    if name == "movq":
        latent = _meta(batch, module.config.latent_channels, lat_h, lat_w, dtype=dtype)
        return module.decode, (latent,), {"force_not_quantize": True}
    if name == "vae":  # AutoencoderKL: only the decoder runs in text-to-image
        latent = _meta(batch, module.config.latent_channels, lat_h, lat_w, dtype=dtype)
        return module.decode, (latent,), {"return_dict": False}
    raise ValueError(f"no counting recipe for component {name!r}")


def text_tokens_for(model_id: str, name: str) -> int | None:
    """Prompt length a component sees when it differs from its encoder family's default (None: default)."""
    model = get_model(model_id)
    if model.family == "flux1" and name in ("text_encoder_2", "transformer"):
        return int(model.call_options.get("max_sequence_length", FLUX_T5_TOKENS))
    if model.family == "kandinsky5" and name in ("text_encoder", "transformer"):
        return K5_PROMPT_TOKENS
    return None


def encoder_reads_image(model_id: str, role: str) -> bool:
    """Whether a role's text encoder also reads the source image (its tokenizer is a Qwen2-VL processor)."""
    return any(c.class_name == "qwen2vl_processor" for c in get_model(model_id).roles[role].components)


@functools.lru_cache(maxsize=256)
def count_component(model_id: str, role: str, name: str, batch: int, lat_h: int, lat_w: int, dtype: str) -> OpCount:
    """Count one call of a full-size component at a batch and latent size (cached in-process and on disk)."""
    from bench.cost.count_cache import cached_count

    dtype = "fp16" if dtype == "bf16" else dtype  # same sizes and shapes; share the cache entry

    def count() -> OpCount:
        module = build_components(model_id, role, dtype)[name]
        tokens = text_tokens_for(model_id, name)
        image_hw = None
        if encoder_reads_image(model_id, role):  # the source image's size: the latent's, times the VAE's 8
            image_hw = (lat_h * VAE_SCALE, lat_w * VAE_SCALE)
            if name == "transformer" and tokens is not None:  # its text context holds the image tokens too
                tokens += k5_image_tokens(image_hw[1], image_hw[0])[1] + K5_I2I_MARKER_TOKENS
        fn, args, kwargs = _component_call(name, module, batch, lat_h, lat_w, _torch_dtype(dtype), tokens, image_hw)
        with _quiet():
            return count_call(fn, *args, weight_bytes=module_weight_bytes(module), **kwargs)

    return cached_count((model_id, role, name, batch, lat_h, lat_w, dtype), count)


def _latent(side: int) -> int:
    """Latent side as Kandinsky pipelines compute it (``downscale_height_and_width``: round up to 64, then /8)."""
    return -(-side // MOVQ_SCALE**2) * MOVQ_SCALE


def latent_side(model_id: str, side: int) -> int:
    """Latent side of an image side, as each family's pipeline computes it.

    Kandinsky 2.x/3 round up to 64 then /8; FLUX.1 makes it even for 2x2 packing (``2 * (side // 16)``);
    SDXL and Kandinsky 5 divide by the VAE's 8.
    """
    family = get_model(model_id).family
    if family == "flux1":
        return 2 * (side // (2 * VAE_SCALE))
    if family in ("sdxl", "kandinsky5"):
        return side // VAE_SCALE
    return _latent(side)


def refiner_split(model_id: str, steps: int) -> tuple[int, int]:
    """Steps the base and the refiner run when the base stops at the model's ``refiner_start``.

    As diffusers does it (``denoising_end`` / ``denoising_start``): the cut-off timestep is
    ``round(T - refiner_start * T)``; the base runs the scheduler timesteps at or above it, the refiner
    those below. With the SDXL scheduler ("leading" spacing, offset 1) 50 steps split 40 + 10, 30 split 23 + 7.
    """
    from bench.models.build import load_config

    model = get_model(model_id)
    scheduler = next(c for c in model.roles["refiner"].components if c.name == "scheduler")
    config = load_config(scheduler.config, "random")
    train_steps = int(config["num_train_timesteps"])
    if config.get("timestep_spacing") != "leading":
        raise ValueError(f"{model_id}: refiner split needs a 'leading' scheduler")
    timesteps = np.arange(steps)[::-1] * (train_steps // steps) + int(config.get("steps_offset", 0))
    cutoff = round(train_steps - model.refiner_start * train_steps)
    base = int((timesteps >= cutoff).sum())
    return base, steps - base


def _parts_single_stage(w: Workload) -> Iterator[tuple[str, str, int, float, str]]:
    """SDXL, FLUX.1 and Kandinsky 5: one pipeline; CFG as each diffusers pipeline does it."""
    images = w.images_per_call
    cfg = 2 if w.cfg else 1
    family = get_model(w.model).family
    if family == "sdxl":
        # force_zeros_for_empty_prompt: without a negative prompt the unconditional embeddings are zeros
        te_batch = w.batch_size * (cfg if w.negative_prompt else 1)
        base_steps = refiner_split(w.model, w.steps)[0] if w.refiner else w.denoise_steps
        yield "text_encode", "text_encoder", te_batch, 1, w.dtype
        yield "text_encode", "text_encoder_2", te_batch, 1, w.dtype
        yield "denoise", "unet", images * cfg, float(base_steps), w.dtype
        if not w.refiner:  # with the refiner the base hands over latents and the refiner decodes
            # the SDXL VAE has force_upcast: an fp16 pipeline decodes in fp32
            yield "decode", "vae", images, 1, "fp32" if w.dtype == "fp16" else w.dtype
    elif family == "flux1":
        yield "text_encode", "text_encoder", w.batch_size, 1, w.dtype
        yield "text_encode", "text_encoder_2", w.batch_size, 1, w.dtype
        yield "denoise", "transformer", images, float(w.denoise_steps), w.dtype
        yield "decode", "vae", images, 1, w.dtype
    elif family == "kandinsky5":
        # guidance > 1 encodes a negative prompt ("" by default) and runs the transformer twice per step,
        # each pass at the image batch (not one pass at twice the batch). I2I runs one prompt per image (the
        # workload repeats prompts: its pipeline pairs one source image with each prompt and each latent), and
        # Qwen2.5-VL reads the source image with each prompt, the negative one included. Not counted: the VAE
        # encode of the source image (as for every img2img model here).
        te_batch = (images if w.task == "img2img" else w.batch_size) * cfg
        yield "text_encode", "text_encoder", te_batch, 1, w.dtype
        yield "text_encode", "text_encoder_2", te_batch, 1, w.dtype
        yield "denoise", "transformer", images, float(w.denoise_steps * cfg), w.dtype
        yield "decode", "vae", images, 1, w.dtype
    else:
        raise ValueError(f"no counting recipe for model family {family!r}")


def _parts_refiner(w: Workload) -> Iterator[tuple[str, str, int, float, str]]:
    """The SDXL refiner after the base: its bigG encoder, the last part of the schedule, the decode.

    The run passes one prompt per image and the refiner encodes the negative prompt even when it is empty
    (``force_zeros_for_empty_prompt`` is false in its model_index.json), so encoding is per image x CFG.
    """
    images = w.images_per_call
    cfg = 2 if w.cfg else 1
    yield "text_encode", "text_encoder_2", images * cfg, 1, w.dtype
    yield "denoise", "unet", images * cfg, float(refiner_split(w.model, w.steps)[1]), w.dtype
    yield "decode", "vae", images, 1, "fp32" if w.dtype == "fp16" else w.dtype


def _parts_for_role(w: Workload, role: str) -> Iterator[tuple[str, str, int, float, str]]:
    """(stage, component, batch, repeats, dtype) of each neural call one pipeline call makes in ``role``."""
    images = w.images_per_call
    cfg = 2 if w.cfg else 1
    model = get_model(w.model)
    if role == "refiner":
        yield from _parts_refiner(w)
        return
    if model.family in ("sdxl", "flux1", "kandinsky5"):
        yield from _parts_single_stage(w)
        return
    names = {c.name for c in model.roles[role].components}
    if role == "prior":
        yield "text_encode", "text_encoder", w.batch_size * cfg, 1, w.dtype
        yield "prior", "prior", images * cfg, float(w.prior_steps or model.prior_steps or 25), w.dtype
        if w.task in ("text2img", "inpaint") and not w.negative_prompt:
            yield "prior", "image_encoder", 1, 1, w.dtype  # get_zero_embed: one zero image for the negative embedding
        elif w.task == "mix":
            yield "prior", "image_encoder", 2, 1, w.dtype  # the images being mixed
        return
    if "text_encoder" in names:  # Kandinsky 2.1 decoder (M-CLIP) and Kandinsky 3 (FLAN-UL2)
        te_batch = w.batch_size * (cfg if (model.family == "kandinsky2" or w.negative_prompt) else 1)
        yield "text_encode", "text_encoder", te_batch, 1, w.dtype
    yield "denoise", "unet", images * cfg, float(w.denoise_steps), w.dtype
    yield "decode", "movq", images, 1, w.dtype


@functools.lru_cache(maxsize=64)
def component_sizes(model_id: str, role: str, dtype: str) -> dict[str, list[int]]:
    """Weight bytes and largest leaf-module bytes of each neural component of a role (cached in-process and on disk)."""
    from bench.cost.count_cache import cached_json

    dtype = "fp16" if dtype == "bf16" else dtype

    def compute() -> dict[str, list[int]]:
        return {
            name: [module_weight_bytes(module), largest_leaf_bytes(module)]
            for name, module in build_components(model_id, role, dtype).items()
            if hasattr(module, "parameters")
        }

    return cached_json(("sizes", model_id, role, dtype), compute)


@functools.lru_cache(maxsize=256)
def profile_workload(w: Workload) -> WorkloadProfile:
    """Count every stage of a workload for the full-size model (cached per workload)."""
    model = get_model(w.model)
    lat_h, lat_w = latent_side(w.model, w.height), latent_side(w.model, w.width)
    parts: list[StagePart] = []
    weights: dict[str, int] = {}
    leaves: dict[str, int] = {}
    roles = (*model.role_for(w.task), "refiner") if w.refiner else model.role_for(w.task)
    for role in roles:
        for stage, name, batch, repeats, dtype in _parts_for_role(w, role):
            count = count_component(w.model, role, name, batch, lat_h, lat_w, dtype)
            parts.append(StagePart(stage, role, name, batch, repeats, count))
        for name, (weight_bytes, leaf_bytes) in component_sizes(w.model, role, w.dtype).items():
            if role == "refiner" and name != "unet":
                continue  # the refiner shares the base's text_encoder_2 and vae: their weights are held once
            weights[f"{role}/{name}"] = weight_bytes
            leaves[f"{role}/{name}"] = leaf_bytes
    return WorkloadProfile(workload=w, parts=tuple(parts), weights_by_component=weights, largest_leaf_bytes=leaves)


# --- the SD 1.5 reference UNet (fits the projection's defaults to published SD 1.5 timings) -------------


@functools.lru_cache(maxsize=8)
def count_sd15_unet_step(batch: int, width: int, height: int, dtype: str = "fp16") -> OpCount:
    """One CFG step of the Stable Diffusion 1.5 UNet at ``batch`` images (the UNet sees 2·batch).

    SD 1.5's UNet is diffusers' ``UNet2DConditionModel`` default architecture (320/640/1280/1280 channels,
    2 layers per block, 8 heads) with 768-wide text cross-attention (CLIP ViT-L/14, as
    ``k21_prior_text_encoder.json``), 77 text tokens, latents at 1/8 of the image.
    """
    import torch
    from diffusers import UNet2DConditionModel

    with _quiet(), torch.device("meta"):
        unet: Any = UNet2DConditionModel(cross_attention_dim=768)
        unet = unet.to(_torch_dtype(dtype)).eval()
    fn, args, kwargs = _component_call("unet", unet, 2 * batch, height // 8, width // 8, _torch_dtype(dtype))
    return count_call(fn, *args, weight_bytes=module_weight_bytes(unet), **kwargs)


@dataclass(frozen=True)
class FlopsRow:
    """One line of ``kbench flops``: per-image counts by stage for one workload."""

    workload: Workload
    stage_tflops: dict[str, float]
    stage_gb: dict[str, float]
    total_tflops: float
    total_gb: float
    denoiser_call_tflops: float  # one UNet/transformer call as the pipeline makes it (CFG batch included)
    denoiser_calls_per_step: int  # 2 where CFG runs the transformer twice (Kandinsky 5), else 1
    weights_gb: float
    method: str = METHOD


def flops_table(workloads: list[Workload]) -> list[FlopsRow]:
    """Per-image TFLOPs and GB moved by stage for each workload (counted on meta)."""
    rows: list[FlopsRow] = []
    with _quiet():
        for w in workloads:
            prof = profile_workload(w)
            den = [p for p in prof.parts if p.component in DENOISERS]
            calls = round(den[0].repeats / w.denoise_steps) if den else 0
            rows.append(
                FlopsRow(
                    workload=w,
                    stage_tflops={s: prof.stage_flops_per_image(s) / 1e12 for s in STAGES},
                    stage_gb={s: prof.stage_bytes_per_image(s) / 1e9 for s in STAGES},
                    total_tflops=prof.flops_per_image() / 1e12,
                    total_gb=prof.bytes_per_image() / 1e9,
                    denoiser_call_tflops=den[0].count.total_flops / 1e12 if den else 0.0,
                    denoiser_calls_per_step=calls,
                    weights_gb=sum(prof.weights_by_component.values()) / 1e9,
                )
            )
    return rows


__all__ = [
    "COMPONENT_STAGE",
    "DENOISERS",
    "DTYPE_BYTES",
    "METHOD",
    "STAGES",
    "FlopsRow",
    "OpCount",
    "StagePart",
    "Workload",
    "WorkloadProfile",
    "build_components",
    "count_call",
    "count_component",
    "count_module",
    "count_sd15_unet_step",
    "flops_table",
    "largest_leaf_bytes",
    "latent_side",
    "module_weight_bytes",
    "profile_workload",
    "text_tokens_for",
]

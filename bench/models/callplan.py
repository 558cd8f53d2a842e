"""How each model family's diffusers pipelines call their components, as data the run and counting paths share.

A call plan (:class:`bench.models.types.CallPlan`) lists, for one pipeline call of a workload, every neural
component forward: its stage, its batch (rows), how many times it runs (steps, prior steps, classifier-free
guidance, img2img strength, the SDXL refiner split), its dtype and the input shapes that vary (prompt
tokens, source image). Outpainting is the inpainting pipeline called at the canvas size, so its plan is
inpainting's at :attr:`bench.spec.Workload.canvas` (the plan's ``size`` and ``latent_hw``). The rules below
are read off the diffusers pipelines and checked against the forward calls of real tiny pipelines
(``tests/models/test_callplan.py``).

Token lengths that depend on the prompt are one-sentence assumptions (32 tokens); everything else is the
pipelines' own padding.
"""

from __future__ import annotations

import numpy as np

from bench.models.configs import load_config
from bench.models.types import ComponentCall, FamilyPlan, ModelSpec, RolePlan, images_per_call
from bench.spec import Workload

# Kandinsky 3 pads prompts to 128 T5 tokens for the encoder (Kandinsky3Pipeline.encode_prompt, max_length 128)
# and then cuts the context to the longest prompt + 1; the UNet's cross-attention length is therefore
# prompt-dependent. 32 tokens is an assumption for a one-sentence prompt; cross-attention is a small share.
K3_TEXT_TOKENS = 128
K3_CONTEXT_TOKENS = 32
# CLIP and M-CLIP encode 77 tokens (the CLIP context length in the shipped configs).
CLIP_TOKENS = 77
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
K5_VISION_PATCH = 14  # k5_t2i_text_encoder.json vision_config patch_size / spatial_merge_size
K5_VISION_MERGE = 2
# FLUX.1 pads T5 prompts to max_sequence_length (FluxPipeline._get_t5_prompt_embeds, padding="max_length");
# the registry's call_options carry it (dev 512, schnell 256). 512 is the pipeline default.
FLUX_T5_TOKENS = 512


def _cfg_by_scale(model: ModelSpec, w: Workload) -> bool:
    """Classifier-free guidance doubles the denoiser work when guidance > 1, as diffusers does."""
    scale = model.default_guidance if w.guidance_scale is None else w.guidance_scale
    return scale > 1.0


def _no_cfg(model: ModelSpec, w: Workload) -> bool:
    """FLUX.1: [dev] feeds guidance to a distilled embedding and [schnell] ignores it: one pass per step."""
    return False


def _strength(model: ModelSpec, w: Workload) -> float | None:
    """The strength a pipeline call runs at: the run's for img2img, the pipeline's default for in- and
    outpainting (the harness passes none: outpainting is the inpainting pipeline on a larger canvas), None
    where every step runs (Kandinsky 5 I2I, the 2.x inpaint decoders)."""
    if w.task == "img2img" and model.img2img_strength:
        return w.strength
    if w.task in ("inpaint", "outpaint"):
        return model.inpaint_strength
    return None


def _denoise_steps(model: ModelSpec, w: Workload) -> int:
    """Steps that run at a strength: ``int(steps * strength)`` (``get_timesteps`` of the UNet pipelines)."""
    strength = _strength(model, w)
    return w.steps if strength is None else min(int(w.steps * strength), w.steps)


def _flux_denoise_steps(model: ModelSpec, w: Workload) -> int:
    """FLUX.1 rounds the other way: it skips ``int(steps - steps * strength)`` steps (28 at 0.6: 17 run)."""
    strength = _strength(model, w)
    return w.steps if strength is None else w.steps - int(max(w.steps - w.steps * strength, 0))


def _movq_latent(side: int, scale: int) -> int:
    """Kandinsky 2.x/3 (``downscale_height_and_width``): round up to a multiple of scale², then /scale."""
    return -(-side // scale**2) * scale


def _vae_latent(side: int, scale: int) -> int:
    """SDXL and Kandinsky 5: the VAE's downscale."""
    return side // scale


def _packed_latent(side: int, scale: int) -> int:
    """FLUX.1: even, for 2x2 packing (``2 * (side // 16)`` at the VAE's 8)."""
    return 2 * (side // (2 * scale))


def _cfg_factor(model: ModelSpec, w: Workload) -> int:
    return 2 if model.plan.cfg(model, w) else 1


def _prior_calls(model: ModelSpec, w: Workload) -> RolePlan:
    """The 2.x CLIP prior: text encoding, the prior's steps, the zero image (or the mixed images) encoded.

    A negative prompt is appended to the prompt list (``prompt = prompt + negative_prompt``), so the prior
    runs on prompts and negatives alike; without one, a zero image is encoded for the negative embedding
    (``get_zero_embed``). Each encoder runs once for the prompts and once for the unconditional text.
    Image mixing (``interpolate``) runs the whole prior once per text item and once more for the negative
    embedding, each run on its one text and the negative prompt beside it (``negative_prior_prompt``) or a
    zero image, and encodes each image item.
    """
    cfg = _cfg_factor(model, w)
    prior_steps = w.prior_steps or model.prior_steps or 25
    per_text = 2 if w.negative_prompt else 1
    if w.task == "mix":
        texts = 1 + max(0, w.mix_items - 2)  # a prompt, the image, then more prompts
        runs = texts + 1
        zero_images = 0 if w.negative_prompt else runs
        return RolePlan(
            "prior",
            (
                ComponentCall("prior", "text_encode", "text_encoder", per_text, runs * cfg, w.dtype),
                ComponentCall(
                    "prior", "prior", "prior", per_text * w.images_per_prompt * cfg, runs * prior_steps, w.dtype
                ),
                ComponentCall("prior", "prior", "image_encoder", 1, 1 + zero_images, w.dtype),
            ),
        )
    prompts = w.batch_size * per_text
    calls = [
        ComponentCall("prior", "text_encode", "text_encoder", prompts, cfg, w.dtype),
        ComponentCall("prior", "prior", "prior", prompts * w.images_per_prompt * cfg, prior_steps, w.dtype),
    ]
    if not w.negative_prompt:
        calls.append(ComponentCall("prior", "prior", "image_encoder", 1, 1, w.dtype))
    return RolePlan("prior", tuple(calls))


def _kandinsky2_roles(model: ModelSpec, w: Workload) -> tuple[RolePlan, ...]:
    """Prior then decoder (2.1 re-encodes the text with M-CLIP, one prompt per image embedding)."""
    cfg = _cfg_factor(model, w)
    images = images_per_call(w)
    role = model.role_for(w.task)[-1]
    names = {c.name for c in model.roles[role].components}
    calls: list[ComponentCall] = []
    if "text_encoder" in names:  # 2.1's M-CLIP: one prompt per image, then the unconditional text
        calls.append(ComponentCall(role, "text_encode", "text_encoder", images, cfg, w.dtype))
    steps = model.plan.denoise_steps(model, w)
    calls.append(ComponentCall(role, "denoise", "unet", images * cfg, steps, w.dtype))
    calls.append(ComponentCall(role, "decode", "movq", images, 1, w.dtype, method="decode"))
    return (_prior_calls(model, w), RolePlan(role, tuple(calls), prompt_per_image="text_encoder" in names))


def _kandinsky3_roles(model: ModelSpec, w: Workload) -> tuple[RolePlan, ...]:
    """One pipeline: FLAN-UL2 encodes the negative prompt (in a second call) only when one is given."""
    cfg = _cfg_factor(model, w)
    images = w.images_per_call
    steps = model.plan.denoise_steps(model, w)
    encodes = cfg if w.negative_prompt else 1
    calls = (
        ComponentCall(
            "main", "text_encode", "text_encoder", w.batch_size, encodes, w.dtype, text_tokens=K3_TEXT_TOKENS
        ),
        ComponentCall("main", "denoise", "unet", images * cfg, steps, w.dtype, text_tokens=K3_CONTEXT_TOKENS),
        ComponentCall("main", "decode", "movq", images, 1, w.dtype, method="decode"),
    )
    return (RolePlan("main", calls),)


def refiner_split(model: ModelSpec, steps: int) -> tuple[int, int]:
    """Steps the base and the refiner run when the base stops at the model's ``refiner_start``.

    As diffusers does it (``denoising_end`` / ``denoising_start``): the cut-off timestep is
    ``round(T - refiner_start * T)``; the base runs the scheduler timesteps at or above it, the refiner
    those below. With the SDXL scheduler ("leading" spacing, offset 1) 50 steps split 40 + 10, 30 split 23 + 7.
    """
    scheduler = next(c for c in model.roles["refiner"].components if c.name == "scheduler")
    config = load_config(scheduler.config, "random")
    train_steps = int(config["num_train_timesteps"])
    if config.get("timestep_spacing") != "leading":
        raise ValueError(f"{model.id}: refiner split needs a 'leading' scheduler")
    timesteps = np.arange(steps)[::-1] * (train_steps // steps) + int(config.get("steps_offset", 0))
    cutoff = round(train_steps - model.refiner_start * train_steps)
    base = int((timesteps >= cutoff).sum())
    return base, steps - base


def _sdxl_roles(model: ModelSpec, w: Workload) -> tuple[RolePlan, ...]:
    """SDXL base, and with ``refiner`` the refiner on the last part of the schedule (it decodes instead).

    The VAE has ``force_upcast``: an fp16 pipeline decodes in fp32. The base zeroes the unconditional
    embeddings without a negative prompt (``force_zeros_for_empty_prompt``); the refiner encodes the negative
    prompt even when empty (false in its model_index.json) and gets one prompt per image.
    """
    cfg = _cfg_factor(model, w)
    images = w.images_per_call
    vae_dtype = "fp32" if w.dtype == "fp16" else w.dtype
    encodes = cfg if w.negative_prompt else 1  # each encoder: the prompts, then the negatives in a second call
    base_steps, refiner_steps = refiner_split(model, w.steps) if w.refiner else (model.plan.denoise_steps(model, w), 0)
    main = [
        ComponentCall("main", "text_encode", "text_encoder", w.batch_size, encodes, w.dtype),
        ComponentCall("main", "text_encode", "text_encoder_2", w.batch_size, encodes, w.dtype),
        ComponentCall("main", "denoise", "unet", images * cfg, base_steps, w.dtype),
    ]
    if not w.refiner:
        main.append(ComponentCall("main", "decode", "vae", images, 1, vae_dtype, method="decode"))
        return (RolePlan("main", tuple(main)),)
    refiner = (
        ComponentCall("refiner", "text_encode", "text_encoder_2", images, cfg, w.dtype),
        ComponentCall("refiner", "denoise", "unet", images * cfg, refiner_steps, w.dtype),
        ComponentCall("refiner", "decode", "vae", images, 1, vae_dtype, method="decode"),
    )
    return RolePlan("main", tuple(main)), RolePlan("refiner", refiner, prompt_per_image=True)


def _flux_roles(model: ModelSpec, w: Workload) -> tuple[RolePlan, ...]:
    """FLUX.1: CLIP and T5 (padded to max_sequence_length) once per prompt; one transformer pass per step."""
    tokens = int(model.call_options.get("max_sequence_length", FLUX_T5_TOKENS))
    steps = model.plan.denoise_steps(model, w)
    images = w.images_per_call
    calls = (
        ComponentCall("main", "text_encode", "text_encoder", w.batch_size, 1, w.dtype),
        ComponentCall("main", "text_encode", "text_encoder_2", w.batch_size, 1, w.dtype, text_tokens=tokens),
        ComponentCall("main", "denoise", "transformer", images, steps, w.dtype, text_tokens=tokens),
        ComponentCall("main", "decode", "vae", images, 1, w.dtype, method="decode"),
    )
    return (RolePlan("main", calls),)


def k5_patch_grid(width: int, height: int) -> tuple[int, int]:
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
    rows, cols = k5_patch_grid(width, height)
    return rows * cols, rows * cols // K5_VISION_MERGE**2


def _kandinsky5_roles(model: ModelSpec, w: Workload) -> tuple[RolePlan, ...]:
    """Kandinsky 5: guidance > 1 encodes a negative prompt ("" by default) and runs the transformer twice per
    step, each pass at the image batch (not one pass at twice the batch).

    I2I runs one prompt per image (its pipeline pairs one source image with each prompt and each latent), and
    Qwen2.5-VL reads the source image with each prompt, the negative one included. Not counted: the VAE
    encode of the source image (as for every img2img model here).
    """
    cfg = _cfg_factor(model, w)
    images = w.images_per_call
    edit = w.task == "img2img"
    role = model.role_for(w.task)[0]
    prompts = images if edit else w.batch_size  # each encoder: the prompts, then the negatives in a second call
    steps = model.plan.denoise_steps(model, w) * cfg
    image_hw = None
    transformer_tokens = K5_PROMPT_TOKENS
    if edit:  # the source image is resized to the generated size; its tokens join the text context
        width, height = model.output_size(w.width, w.height)
        image_hw = (height, width)
        transformer_tokens += k5_image_tokens(image_hw[1], image_hw[0])[1] + K5_I2I_MARKER_TOKENS
    calls = (
        ComponentCall(
            role, "text_encode", "text_encoder", prompts, cfg, w.dtype, text_tokens=K5_PROMPT_TOKENS, image_hw=image_hw
        ),
        ComponentCall(role, "text_encode", "text_encoder_2", prompts, cfg, w.dtype),
        ComponentCall(role, "denoise", "transformer", images, steps, w.dtype, text_tokens=transformer_tokens),
        ComponentCall(role, "decode", "vae", images, 1, w.dtype, method="decode"),
    )
    return (RolePlan(role, calls, prompt_per_image=edit),)


KANDINSKY2 = FamilyPlan(_kandinsky2_roles, _movq_latent, _cfg_by_scale, _denoise_steps)
KANDINSKY3 = FamilyPlan(_kandinsky3_roles, _movq_latent, _cfg_by_scale, _denoise_steps)
SDXL = FamilyPlan(_sdxl_roles, _vae_latent, _cfg_by_scale, _denoise_steps)
FLUX1 = FamilyPlan(_flux_roles, _packed_latent, _no_cfg, _flux_denoise_steps)
KANDINSKY5 = FamilyPlan(_kandinsky5_roles, _vae_latent, _cfg_by_scale, _denoise_steps)

"""What each benchmarkable model is: family, tasks, defaults, the pipelines it is built from, and its call plan.

The registry is pure data (no torch import), so scenario validation can consult it before anything heavy is
loaded. Building pipelines from these entries lives in :mod:`bench.models.build`; how each family's pipelines
call their components in :mod:`bench.models.callplan`.
"""

from __future__ import annotations

from bench.models import callplan
from bench.models.types import CallPlan, ComponentSpec, ModelSpec, PipelineRole
from bench.spec import Workload

__all__ = ["MODELS", "call_plan", "get_model", "known_models", "refiner_models"]


def refiner_models() -> list[str]:
    """Ids of the models a scenario may run with ``refiner: true``."""
    return sorted(m for m, spec in MODELS.items() if spec.has_refiner)


def _clip_prior(prefix: str, pipeline_class: str, hub_id: str) -> PipelineRole:
    return PipelineRole(
        role="prior",
        pipeline_class=pipeline_class,
        hub_id=hub_id,
        components=(
            ComponentSpec("prior", "PriorTransformer", f"{prefix}_prior"),
            ComponentSpec("image_encoder", "CLIPVisionModelWithProjection", f"{prefix}_prior_image_encoder"),
            ComponentSpec("text_encoder", "CLIPTextModelWithProjection", f"{prefix}_prior_text_encoder"),
            ComponentSpec("tokenizer", "clip", f"{prefix}_prior_text_encoder", tokenizer_for="text_encoder"),
            ComponentSpec("scheduler", "UnCLIPScheduler", f"{prefix}_prior_scheduler"),
            ComponentSpec("image_processor", "CLIPImageProcessor", f"{prefix}_prior_image_encoder"),
        ),
    )


def _k21_decoder(role: str, pipeline_class: str, hub_id: str, unet: str, scheduler: str) -> PipelineRole:
    return PipelineRole(
        role=role,
        pipeline_class=pipeline_class,
        hub_id=hub_id,
        components=(
            ComponentSpec("text_encoder", "MultilingualCLIP", "k21_text_encoder"),
            ComponentSpec("tokenizer", "xlmr", "k21_text_encoder", tokenizer_for="text_encoder"),
            ComponentSpec("unet", "UNet2DConditionModel", unet),
            ComponentSpec("scheduler", "DDIMScheduler", scheduler),
            ComponentSpec("movq", "VQModel", "k21_movq"),
        ),
    )


def _k22_decoder(role: str, pipeline_class: str, hub_id: str, unet: str, scheduler: str) -> PipelineRole:
    return PipelineRole(
        role=role,
        pipeline_class=pipeline_class,
        hub_id=hub_id,
        components=(
            ComponentSpec("unet", "UNet2DConditionModel", unet),
            ComponentSpec("scheduler", "DDPMScheduler", scheduler),
            ComponentSpec("movq", "VQModel", "k22_movq"),
        ),
    )


# Multilingual facts: 2.1 decodes through M-CLIP (XLM-R, 100+ languages) but its prior reads a CLIP
# ViT-L/14 English text encoder; 2.2's prior is CLIP ViT-bigG (English BPE); Kandinsky 3 uses
# FLAN-UL2's English-centric T5 tokenizer (no Cyrillic/CJK pieces in its vocabulary).
_SRC_K2 = "https://github.com/ai-forever/Kandinsky-2 (README: text encoders); CLIP BPE vocabulary is English-only"
_SRC_K3 = "https://huggingface.co/kandinsky-community/kandinsky-3 (FLAN-UL2 encoder, T5 SentencePiece vocabulary)"

_SRC_SDXL = (
    "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0 (text encoders CLIP ViT-L/14 and "
    "OpenCLIP ViT-bigG/14); CLIP BPE vocabulary is English-only"
)
_SRC_FLUX = (
    "https://huggingface.co/black-forest-labs/FLUX.1-dev (text encoders CLIP ViT-L/14 and T5-XXL v1.1); "
    "https://huggingface.co/google/t5-v1_1-xxl: pre-trained on C4 (English) only, so German prompts "
    "tokenize without unknown pieces but are not an encoder training language; CLIP BPE is English-only"
)


def _sdxl_main() -> PipelineRole:
    return PipelineRole(
        role="main",
        pipeline_class="StableDiffusionXLPipeline",
        hub_id="stabilityai/stable-diffusion-xl-base-1.0",
        components=(
            ComponentSpec("text_encoder", "CLIPTextModel", "sdxl_text_encoder"),
            ComponentSpec("tokenizer", "clip", "sdxl_text_encoder", tokenizer_for="text_encoder"),
            ComponentSpec("text_encoder_2", "CLIPTextModelWithProjection", "sdxl_text_encoder_2"),
            ComponentSpec("tokenizer_2", "clip", "sdxl_text_encoder_2", tokenizer_for="text_encoder_2"),
            ComponentSpec("unet", "UNet2DConditionModel", "sdxl_unet"),
            ComponentSpec("scheduler", "EulerDiscreteScheduler", "sdxl_scheduler"),
            ComponentSpec("vae", "AutoencoderKL", "sdxl_vae"),
        ),
    )


def _sdxl_refiner() -> PipelineRole:
    """The SDXL refiner: an image-to-image pipeline on the OpenCLIP bigG encoder only (no CLIP ViT-L).

    In a run it shares the base's ``text_encoder_2``, ``tokenizer_2`` and ``vae`` (as the diffusers
    "ensemble of expert denoisers" recipe does) and adds its own 2.3B UNet.
    """
    return PipelineRole(
        role="refiner",
        pipeline_class="StableDiffusionXLImg2ImgPipeline",
        hub_id="stabilityai/stable-diffusion-xl-refiner-1.0",
        components=(
            ComponentSpec("text_encoder_2", "CLIPTextModelWithProjection", "sdxl_text_encoder_2"),
            ComponentSpec("tokenizer_2", "clip", "sdxl_text_encoder_2", tokenizer_for="text_encoder_2"),
            ComponentSpec("unet", "UNet2DConditionModel", "sdxl_refiner_unet"),
            ComponentSpec("scheduler", "EulerDiscreteScheduler", "sdxl_scheduler"),
            ComponentSpec("vae", "AutoencoderKL", "sdxl_vae"),
        ),
        shares=("text_encoder_2", "tokenizer_2", "vae"),
    )


def _flux_main(variant: str) -> PipelineRole:
    return PipelineRole(
        role="main",
        pipeline_class="FluxPipeline",
        hub_id=f"black-forest-labs/FLUX.1-{variant}",
        components=(
            ComponentSpec("text_encoder", "CLIPTextModel", "flux_text_encoder"),
            ComponentSpec("tokenizer", "clip", "flux_text_encoder", tokenizer_for="text_encoder"),
            ComponentSpec("text_encoder_2", "T5EncoderModel", "flux_text_encoder_2"),
            ComponentSpec("tokenizer_2", "t5", "flux_text_encoder_2", tokenizer_for="text_encoder_2"),
            ComponentSpec("transformer", "FluxTransformer2DModel", f"flux_{variant}_transformer"),
            ComponentSpec("scheduler", "FlowMatchEulerDiscreteScheduler", f"flux_{variant}_scheduler"),
            ComponentSpec("vae", "AutoencoderKL", "flux_vae"),
        ),
    )


# outpainting is the inpainting pipeline called on a larger canvas
_FLUX_TASKS = {"img2img": "FluxImg2ImgPipeline", "inpaint": "FluxInpaintPipeline", "outpaint": "FluxInpaintPipeline"}


_SRC_K5 = (
    "https://github.com/kandinskylab/kandinsky-5 (text encoders Qwen2.5-VL-7B-Instruct and CLIP ViT-L/14); "
    "https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct: Qwen2.5 is multilingual (29+ languages incl. "
    "Russian, Chinese, German)"
)


def _k5_role(role: str, pipeline_class: str, kind: str, tokenizer: str, transformer: str) -> PipelineRole:
    """A Kandinsky 5 image pipeline: T2I (text tokenizer) or I2I (a Qwen2-VL processor that also reads the image)."""
    return PipelineRole(
        role=role,
        pipeline_class=pipeline_class,
        hub_id=f"kandinskylab/Kandinsky-5.0-{kind}-Lite-sft-Diffusers",
        components=(
            ComponentSpec("text_encoder", "Qwen2_5_VLForConditionalGeneration", "k5_t2i_text_encoder"),
            ComponentSpec("tokenizer", tokenizer, "k5_t2i_text_encoder", tokenizer_for="text_encoder"),
            ComponentSpec("text_encoder_2", "CLIPTextModel", "k5_t2i_text_encoder_2"),
            ComponentSpec("tokenizer_2", "clip", "k5_t2i_text_encoder_2", tokenizer_for="text_encoder_2"),
            ComponentSpec("transformer", "Kandinsky5Transformer3DModel", transformer),
            ComponentSpec("scheduler", "FlowMatchEulerDiscreteScheduler", "k5_t2i_scheduler"),
            ComponentSpec("vae", "AutoencoderKL", "k5_t2i_vae"),
        ),
    )


def _kandinsky2(
    version: str,
    prior: PipelineRole,
    decoder: PipelineRole,
    inpaint: PipelineRole,
    img2img_class: str,
    multilingual: dict[str, bool],
    multilingual_source: str,
) -> ModelSpec:
    """Kandinsky 2.1 and 2.2: the same prior-then-decoder layout, tasks and defaults; their own components."""
    return ModelSpec(
        id=f"kandinsky-{version}",
        family="kandinsky2",
        plan=callplan.KANDINSKY2,
        display_name=f"Kandinsky {version}",
        tasks=("text2img", "img2img", "inpaint", "outpaint", "mix"),
        default_resolution=(512, 512),
        default_steps=100,
        default_guidance=4.0,
        resolution_multiple=64,
        max_resolution=2048,
        prior_steps=25,
        roles={"prior": prior, "decoder": decoder, "inpaint": inpaint},
        task_roles={
            "text2img": ("prior", "decoder"),
            "img2img": ("prior", "decoder"),
            "inpaint": ("prior", "inpaint"),
            "outpaint": ("prior", "inpaint"),  # the inpaint decoder on the larger canvas
            "mix": ("prior", "decoder"),
        },
        task_pipeline_class={"img2img": img2img_class},
        multilingual=multilingual,
        multilingual_source=multilingual_source,
    )


MODELS: dict[str, ModelSpec] = {
    "kandinsky-2.1": _kandinsky2(
        version="2.1",
        prior=_clip_prior("k21", "KandinskyPriorPipeline", "kandinsky-community/kandinsky-2-1-prior"),
        decoder=_k21_decoder(
            "decoder", "KandinskyPipeline", "kandinsky-community/kandinsky-2-1", "k21_unet", "k21_scheduler"
        ),
        inpaint=_k21_decoder(
            "inpaint",
            "KandinskyInpaintPipeline",
            "kandinsky-community/kandinsky-2-1-inpaint",
            "k21_inpaint_unet",
            "k21_inpaint_scheduler",
        ),
        img2img_class="KandinskyImg2ImgPipeline",
        multilingual={"en": True, "ru": True, "zh": True, "de": True},
        multilingual_source=_SRC_K2 + "; decoder text encoder M-CLIP XLM-R large is multilingual",
    ),
    "kandinsky-2.2": _kandinsky2(
        version="2.2",
        prior=_clip_prior("k22", "KandinskyV22PriorPipeline", "kandinsky-community/kandinsky-2-2-prior"),
        decoder=_k22_decoder(
            "decoder", "KandinskyV22Pipeline", "kandinsky-community/kandinsky-2-2-decoder", "k22_unet", "k22_scheduler"
        ),
        inpaint=_k22_decoder(
            "inpaint",
            "KandinskyV22InpaintPipeline",
            "kandinsky-community/kandinsky-2-2-decoder-inpaint",
            "k22_inpaint_unet",
            "k22_inpaint_scheduler",
        ),
        img2img_class="KandinskyV22Img2ImgPipeline",
        multilingual={"en": True, "ru": False, "zh": False, "de": False},
        multilingual_source=_SRC_K2 + "; 2.2 conditions only through the CLIP ViT-bigG prior",
    ),
    "kandinsky-3": ModelSpec(
        id="kandinsky-3",
        family="kandinsky3",
        plan=callplan.KANDINSKY3,
        display_name="Kandinsky 3",
        tasks=("text2img", "img2img"),
        default_resolution=(1024, 1024),
        default_steps=25,
        default_guidance=3.0,
        resolution_multiple=64,
        max_resolution=4096,
        roles={
            "main": PipelineRole(
                role="main",
                pipeline_class="Kandinsky3Pipeline",
                hub_id="kandinsky-community/kandinsky-3",
                components=(
                    ComponentSpec("text_encoder", "T5EncoderModel", "k3_text_encoder"),
                    ComponentSpec("tokenizer", "t5", "k3_text_encoder", tokenizer_for="text_encoder"),
                    ComponentSpec("unet", "Kandinsky3UNet", "k3_unet"),
                    ComponentSpec("scheduler", "DDPMScheduler", "k3_scheduler"),
                    ComponentSpec("movq", "VQModel", "k3_movq"),
                ),
            )
        },
        task_roles={"text2img": ("main",), "img2img": ("main",)},
        task_pipeline_class={"img2img": "Kandinsky3Img2ImgPipeline"},
        multilingual={"en": True, "ru": False, "zh": False, "de": True},
        multilingual_source=_SRC_K3 + "; T5 vocabulary covers English, German, French, Romanian",
    ),
    "sdxl-base": ModelSpec(
        id="sdxl-base",
        family="sdxl",
        plan=callplan.SDXL,
        display_name="Stable Diffusion XL base 1.0",
        tasks=("text2img", "img2img", "inpaint", "outpaint"),
        default_resolution=(1024, 1024),
        default_steps=50,
        default_guidance=5.0,
        resolution_multiple=8,
        max_resolution=4096,
        roles={"main": _sdxl_main(), "refiner": _sdxl_refiner()},
        task_roles={"text2img": ("main",), "img2img": ("main",), "inpaint": ("main",), "outpaint": ("main",)},
        refiner_tasks=("text2img",),
        inpaint_strength=0.9999,  # StableDiffusionXLInpaintPipeline's default
        task_pipeline_class={
            "img2img": "StableDiffusionXLImg2ImgPipeline",
            "inpaint": "StableDiffusionXLInpaintPipeline",
            "outpaint": "StableDiffusionXLInpaintPipeline",
        },
        multilingual={"en": True, "ru": False, "zh": False, "de": False},
        multilingual_source=_SRC_SDXL,
    ),
    # FLUX.1 [dev] is guidance-distilled: guidance_scale feeds the transformer's guidance embedding
    # (one forward per step, no classifier-free batch). [schnell] is timestep-distilled to 4 steps
    # and has no guidance embedding. Both pad T5 prompts to max_sequence_length (512 / 256).
    "flux.1-dev": ModelSpec(
        id="flux.1-dev",
        family="flux1",
        plan=callplan.FLUX1,
        display_name="FLUX.1 [dev]",
        tasks=("text2img", "img2img", "inpaint", "outpaint"),
        default_resolution=(1024, 1024),
        default_steps=28,
        default_guidance=3.5,
        resolution_multiple=16,
        max_resolution=2048,
        roles={"main": _flux_main("dev")},
        task_roles={task: ("main",) for task in ("text2img", "img2img", "inpaint", "outpaint")},
        task_pipeline_class=dict(_FLUX_TASKS),
        inpaint_strength=0.6,  # FluxInpaintPipeline's default
        multilingual={"en": True, "ru": False, "zh": False, "de": False},
        multilingual_source=_SRC_FLUX,
        call_options={"max_sequence_length": 512},
    ),
    "flux.1-schnell": ModelSpec(
        id="flux.1-schnell",
        family="flux1",
        plan=callplan.FLUX1,
        display_name="FLUX.1 [schnell]",
        tasks=("text2img", "img2img", "inpaint", "outpaint"),
        default_resolution=(1024, 1024),
        default_steps=4,
        default_guidance=0.0,
        resolution_multiple=16,
        max_resolution=2048,
        roles={"main": _flux_main("schnell")},
        task_roles={task: ("main",) for task in ("text2img", "img2img", "inpaint", "outpaint")},
        task_pipeline_class=dict(_FLUX_TASKS),
        inpaint_strength=0.6,  # FluxInpaintPipeline's default
        multilingual={"en": True, "ru": False, "zh": False, "de": False},
        multilingual_source=_SRC_FLUX.replace("FLUX.1-dev", "FLUX.1-schnell"),
        call_options={"max_sequence_length": 256},
    ),
    # Kandinsky 5 image editing is a separate checkpoint (I2I Lite): the source image is VAE-encoded and
    # concatenated to the noise latent channel-wise (33 input channels), and Qwen2.5-VL reads it through
    # its vision tower next to the prompt. Every step runs; there is no ``strength``.
    "kandinsky-5-lite": ModelSpec(
        id="kandinsky-5-lite",
        family="kandinsky5",
        plan=callplan.KANDINSKY5,
        display_name="Kandinsky 5.0 Image Lite",
        tasks=("text2img", "img2img"),
        default_resolution=(1024, 1024),
        default_steps=50,
        default_guidance=3.5,
        resolution_multiple=64,
        max_resolution=1408,
        roles={
            "main": _k5_role("main", "Kandinsky5T2IPipeline", "T2I", "qwen2", "k5_t2i_transformer"),
            "edit": _k5_role("edit", "Kandinsky5I2IPipeline", "I2I", "qwen2vl_processor", "k5_i2i_transformer"),
        },
        task_roles={"text2img": ("main",), "img2img": ("edit",)},
        task_pipeline_class={},
        multilingual={"en": True, "ru": True, "zh": True, "de": True},
        multilingual_source=_SRC_K5,
        call_options={"max_sequence_length": 512},
        img2img_strength=False,
        # Kandinsky5T2IPipeline.resolutions: other sizes run at the trained size of the nearest aspect ratio
        trained_sizes=((1024, 1024), (640, 1408), (1408, 640), (768, 1280), (1280, 768), (896, 1152), (1152, 896)),
    ),
}


def known_models() -> list[str]:
    return sorted(MODELS)


def get_model(model_id: str) -> ModelSpec:
    """Look a model up by id; the error lists the known ids."""
    from bench.errors import ModelError

    try:
        return MODELS[model_id]
    except KeyError:
        raise ModelError(f"unknown model {model_id!r}; known: {', '.join(known_models())}") from None


def call_plan(w: Workload) -> CallPlan:
    """The component calls one pipeline call of ``w`` makes (see :mod:`bench.models.callplan`)."""
    return get_model(w.model).call_plan(w)

"""What each benchmarkable model is: family, tasks, defaults, and the pipelines it is built from.

The registry is pure data (no torch import), so scenario validation can consult it before
anything heavy is loaded. Building pipelines from these entries lives in ``bench.models.build``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TASKS = ("text2img", "img2img", "inpaint", "mix")
LANGUAGES = ("en", "ru", "zh", "de")


@dataclass(frozen=True)
class ComponentSpec:
    """One component of a pipeline: its attribute name, the class that builds it, and its config stem."""

    name: str
    class_name: str
    config: str  # stem of a JSON file under configs/full and configs/tiny
    tokenizer_for: str | None = None  # for tokenizers: the text-encoder config whose vocab/ids it must match


@dataclass(frozen=True)
class PipelineRole:
    """A diffusers pipeline the model is made of (e.g. the 2.x prior, the decoder)."""

    role: str
    pipeline_class: str
    hub_id: str
    components: tuple[ComponentSpec, ...]


@dataclass(frozen=True)
class ModelSpec:
    """A benchmarkable model version and the facts the harness needs about it."""

    id: str
    family: str
    display_name: str
    tasks: tuple[str, ...]
    default_resolution: tuple[int, int]
    default_steps: int
    default_guidance: float
    resolution_multiple: int
    max_resolution: int
    roles: dict[str, PipelineRole]
    task_roles: dict[str, tuple[str, ...]]  # task -> roles it runs, in order
    task_pipeline_class: dict[str, str]  # task -> class used for the final (decoder) call when it differs
    prior_steps: int | None = None
    multilingual: dict[str, bool] = field(default_factory=dict)
    multilingual_source: str = ""

    def role_for(self, task: str) -> tuple[str, ...]:
        return self.task_roles[task]


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

MODELS: dict[str, ModelSpec] = {
    "kandinsky-2.1": ModelSpec(
        id="kandinsky-2.1",
        family="kandinsky2",
        display_name="Kandinsky 2.1",
        tasks=("text2img", "img2img", "inpaint", "mix"),
        default_resolution=(512, 512),
        default_steps=100,
        default_guidance=4.0,
        resolution_multiple=64,
        max_resolution=2048,
        prior_steps=25,
        roles={
            "prior": _clip_prior("k21", "KandinskyPriorPipeline", "kandinsky-community/kandinsky-2-1-prior"),
            "decoder": _k21_decoder(
                "decoder", "KandinskyPipeline", "kandinsky-community/kandinsky-2-1", "k21_unet", "k21_scheduler"
            ),
            "inpaint": _k21_decoder(
                "inpaint",
                "KandinskyInpaintPipeline",
                "kandinsky-community/kandinsky-2-1-inpaint",
                "k21_inpaint_unet",
                "k21_inpaint_scheduler",
            ),
        },
        task_roles={
            "text2img": ("prior", "decoder"),
            "img2img": ("prior", "decoder"),
            "inpaint": ("prior", "inpaint"),
            "mix": ("prior", "decoder"),
        },
        task_pipeline_class={"img2img": "KandinskyImg2ImgPipeline"},
        multilingual={"en": True, "ru": True, "zh": True, "de": True},
        multilingual_source=_SRC_K2 + "; decoder text encoder M-CLIP XLM-R large is multilingual",
    ),
    "kandinsky-2.2": ModelSpec(
        id="kandinsky-2.2",
        family="kandinsky2",
        display_name="Kandinsky 2.2",
        tasks=("text2img", "img2img", "inpaint", "mix"),
        default_resolution=(512, 512),
        default_steps=100,
        default_guidance=4.0,
        resolution_multiple=64,
        max_resolution=2048,
        prior_steps=25,
        roles={
            "prior": _clip_prior("k22", "KandinskyV22PriorPipeline", "kandinsky-community/kandinsky-2-2-prior"),
            "decoder": _k22_decoder(
                "decoder",
                "KandinskyV22Pipeline",
                "kandinsky-community/kandinsky-2-2-decoder",
                "k22_unet",
                "k22_scheduler",
            ),
            "inpaint": _k22_decoder(
                "inpaint",
                "KandinskyV22InpaintPipeline",
                "kandinsky-community/kandinsky-2-2-decoder-inpaint",
                "k22_inpaint_unet",
                "k22_inpaint_scheduler",
            ),
        },
        task_roles={
            "text2img": ("prior", "decoder"),
            "img2img": ("prior", "decoder"),
            "inpaint": ("prior", "inpaint"),
            "mix": ("prior", "decoder"),
        },
        task_pipeline_class={"img2img": "KandinskyV22Img2ImgPipeline"},
        multilingual={"en": True, "ru": False, "zh": False, "de": False},
        multilingual_source=_SRC_K2 + "; 2.2 conditions only through the CLIP ViT-bigG prior",
    ),
    "kandinsky-3": ModelSpec(
        id="kandinsky-3",
        family="kandinsky3",
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

"""Build pipelines from a weight source: ``hub`` (from_pretrained), ``random`` (full-size), ``tiny``.

``random`` materialises the full-size architecture directly on the target device in the target dtype
(``torch.device`` and default-dtype context), so a 3B UNet in fp16 on a GPU never exists as an fp32
copy in host memory. ``device="meta"`` builds shapes only, for parameter and FLOP counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from bench.errors import ModelError
from bench.models.configs import WeightsKind, load_config
from bench.models.hub import HubLoads, load_pipeline
from bench.models.quiet_import import import_diffusers
from bench.models.registry import get_model
from bench.models.types import ComponentSpec, ModelSpec

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
_CONFIG_META_KEYS = (
    "_class_name",
    "_diffusers_version",
    "_name_or_path",
    "_note",
    "architectures",
    "model_type",
    "torch_dtype",
    "dtype",
)
_TRANSFORMERS_CONFIGS = {
    "CLIPTextModelWithProjection": "CLIPTextConfig",
    "CLIPVisionModelWithProjection": "CLIPVisionConfig",
    "CLIPTextModel": "CLIPTextConfig",
    "T5EncoderModel": "T5Config",
}
_TOKENIZER_KINDS = ("clip", "xlmr", "t5", "qwen2")
PIPE_KEYS = {"decoder": "decoder", "inpaint": "decoder", "edit": "main"}  # role -> key of the built pipeline


def torch_dtype(name: str) -> Any:
    """Map the scenario's dtype name (fp16, bf16, fp32) to a ``torch.dtype``."""
    import torch

    return getattr(torch, DTYPES[name])


def _constructor_args(config: dict[str, Any]) -> dict[str, Any]:
    """The config without loader metadata; its ``torch_dtype`` never overrides the scenario's dtype."""
    return {k: v for k, v in config.items() if k not in _CONFIG_META_KEYS}


@contextlib.contextmanager
def materialise_on(device: str, dtype: Any) -> Iterator[None]:
    """Create parameters directly on ``device`` in ``dtype`` (no host fp32 copy first)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def build_component(component: ComponentSpec, weights: WeightsKind, device: str, dtype: Any) -> Any:
    """Instantiate one component from its shipped config."""
    config = load_config(component.config, weights)
    cls_name = component.class_name
    if cls_name in _TOKENIZER_KINDS:
        from bench.models.tokenizers import build_tokenizer

        return build_tokenizer(cls_name, int(config["vocab_size"]))
    if cls_name == "qwen2vl_processor":
        return build_qwen2vl_processor(config)
    if cls_name == "CLIPImageProcessor":
        from transformers import CLIPImageProcessorPil  # the PIL backend: no torchvision needed

        side = int(config["image_size"])
        return CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    if cls_name.endswith("Scheduler"):
        diffusers = import_diffusers()

        return getattr(diffusers, cls_name).from_config(_constructor_args(config))
    from bench.models.dtype_plan import apply_dtype_plan

    with materialise_on(device, dtype):
        module = _build_model(cls_name, config)
    apply_dtype_plan(module, dtype)  # as from_pretrained(torch_dtype=dtype): the loaders' fp32-kept modules
    return module


def build_qwen2vl_processor(text_encoder_config: dict[str, Any]) -> Any:
    """The Qwen2-VL processor of Kandinsky 5 I2I: the offline ``qwen2`` tokenizer and the PIL image processor.

    The image processor's patch, merge and temporal sizes follow the encoder's vision tower, so the number
    of ``<|image_pad|>`` tokens it inserts is the number of merged patches the tower returns. The processor
    is built without a video processor (the video one needs torchvision; the pipeline never passes videos).
    """
    from transformers import Qwen2VLImageProcessorPil, Qwen2VLProcessor

    from bench.models.tokenizers import build_tokenizer

    class ImageTextQwen2VLProcessor(Qwen2VLProcessor):
        """Qwen2VLProcessor with image and text only: no video_processor attribute to type-check or save."""

        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None) -> None:
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template)

    vision = text_encoder_config["vision_config"]
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=int(vision["patch_size"]),
        merge_size=int(vision["spatial_merge_size"]),
        temporal_patch_size=int(vision["temporal_patch_size"]),
    )
    tokenizer = build_tokenizer("qwen2", int(text_encoder_config["vocab_size"]))
    return ImageTextQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer)


def _build_model(cls_name: str, config: dict[str, Any]) -> Any:
    args = _constructor_args(config)
    if cls_name == "MultilingualCLIP":
        import_diffusers()
        from diffusers.pipelines.kandinsky.text_encoder import MCLIPConfig, MultilingualCLIP

        dims = {"transformerDimSize": args.pop("transformerDimensions"), "imageDimSize": args.pop("numDims")}
        return MultilingualCLIP(MCLIPConfig(**dims, **args)).eval()
    if cls_name == "Qwen2_5_VLForConditionalGeneration":
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**args)).eval()
    if cls_name in _TRANSFORMERS_CONFIGS:
        import transformers

        config_cls = getattr(transformers, _TRANSFORMERS_CONFIGS[cls_name])
        return getattr(transformers, cls_name)(config_cls(**args)).eval()
    diffusers = import_diffusers()

    return getattr(diffusers, cls_name).from_config(args).eval()


def build_role_components(model_id: str, role: str, weights: WeightsKind, device: str, dtype: Any) -> dict[str, Any]:
    """All components of one pipeline role (e.g. the 2.2 ``prior``) built from shipped configs."""
    model = get_model(model_id)
    if role not in model.roles:
        raise ModelError(f"{model_id} has no pipeline role {role!r}; roles: {', '.join(model.roles)}")
    return {c.name: build_component(c, weights, device, dtype) for c in model.roles[role].components}


def pipeline_class_for(model: ModelSpec, role: str, task: str) -> Any:
    """The diffusers pipeline class a role runs for a task (img2img swaps the decoder class)."""
    diffusers = import_diffusers()

    name = model.roles[role].pipeline_class
    if role != "prior" and task in model.task_pipeline_class:
        name = model.task_pipeline_class[task]
    return getattr(diffusers, name)


def hub_location(model: ModelSpec, role: str, hub: dict[str, str]) -> str:
    """Where ``hub`` weights of a role come from: the scenario's override or the registry's hub id."""
    return hub.get(role, model.roles[role].hub_id)


def build_pipelines(
    model_id: str,
    task: str,
    weights: str,
    device: str,
    dtype_name: str,
    hub: dict[str, str] | None = None,
    *,
    refiner: bool = False,
    loads: HubLoads | None = None,
) -> dict[str, Any]:
    """Pipelines for a run keyed ``prior``/``decoder`` (Kandinsky 2.x) or ``main`` (single-stage models).

    With ``refiner`` the model's refiner pipeline is added under ``refiner``; it shares the main
    pipeline's second text encoder and VAE. Components are created on ``device``; memory options that
    move weights (CPU offload) are applied by the caller afterwards, which for offload means building on ``cpu``.
    """
    model = get_model(model_id)
    dtype = torch_dtype(dtype_name)
    loads = loads if loads is not None else HubLoads()
    pipes: dict[str, Any] = {}
    for role in model.task_roles[task]:
        cls = pipeline_class_for(model, role, task)
        key = PIPE_KEYS.get(role, role)
        if weights == "hub":
            pipes[key] = load_pipeline(cls, hub_location(model, role, hub or {}), role, dtype, device, loads)
        else:
            components = build_role_components(model_id, role, weights, device, dtype)  # type: ignore[arg-type]
            pipes[key] = cls(**components)
        pipes[key].set_progress_bar_config(disable=True)
    if refiner:
        pipes["refiner"] = _build_refiner(model, task, weights, device, dtype, hub or {}, pipes["main"], loads)
        pipes["refiner"].set_progress_bar_config(disable=True)
    return pipes


def _build_refiner(
    model: ModelSpec,
    task: str,
    weights: str,
    device: str,
    dtype: Any,
    hub: dict[str, str],
    main: Any,
    loads: HubLoads,
) -> Any:
    """The refiner pipeline, reusing the main pipeline's ``text_encoder_2``, ``tokenizer_2`` and ``vae``."""
    if not model.has_refiner or task not in model.refiner_tasks:
        allowed = ", ".join(model.refiner_tasks) or "no task"
        raise ModelError(f"{model.id} has no refiner for {task!r} (refiner runs for: {allowed})")
    cls = pipeline_class_for(model, "refiner", task)
    shared = {name: getattr(main, name) for name in model.roles["refiner"].shares}
    # the refiner's published model_index.json: aesthetic-score conditioning, and an empty negative prompt
    # is encoded rather than zeroed
    flags = {"requires_aesthetics_score": True, "force_zeros_for_empty_prompt": False}
    if weights == "hub":
        location = hub_location(model, "refiner", hub)
        return load_pipeline(cls, location, "refiner", dtype, device, loads, **shared, **flags)
    own = {
        c.name: build_component(c, weights, device, dtype)  # type: ignore[arg-type]
        for c in model.roles["refiner"].components
        if c.name not in shared
    }
    return cls(text_encoder=None, tokenizer=None, **own, **shared, **flags)


def count_parameters(module: Any) -> int:
    """Number of parameters of a torch module (works on the meta device)."""
    return int(sum(p.numel() for p in module.parameters()))

"""Workloads: bundled prompt sets per language, synthetic input images, and task -> pipeline call.

Inputs are deterministic functions of the run's seed and size, so two runs of the same spec do the
same work. The calls follow the Kandinsky deployment guide: 2.x text-to-image is prior then decoder,
image mixing is ``prior.interpolate`` over prompts and images with weights, inpainting uses the
inpaint decoder with a mask, image-to-image takes a strength.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from bench.errors import ScenarioError
from bench.models.registry import get_model

if TYPE_CHECKING:
    from PIL import Image

    from bench.scenario import RunSpec

PROMPT_LANGUAGES = ("en", "ru", "zh", "de")
NEGATIVE_DEFAULT = "low quality, blurry"


@cache
def load_prompt_set(language: str, prompt_set: str = "default") -> tuple[str, ...]:
    """Prompts of a bundled set (``default``) or of a text file path given as ``prompt_set``."""
    if prompt_set == "default":
        if language not in PROMPT_LANGUAGES:
            raise ScenarioError(f"languages: {language!r} has no bundled prompts; known: {', '.join(PROMPT_LANGUAGES)}")
        text = resources.files("bench.data").joinpath("prompts").joinpath(f"{language}.txt").read_text(encoding="utf-8")
    else:
        try:
            with open(prompt_set, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ScenarioError(
                f"prompt_set: cannot read {prompt_set!r} ({exc.strerror}); use 'default' or a file path"
            ) from None
    prompts = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
    if not prompts:
        raise ScenarioError(f"prompt_set: {prompt_set!r} holds no prompts")
    return prompts


def prompt_corpus() -> Iterator[str]:
    """Every bundled prompt in every language (the training text of the offline tokenizers)."""
    for language in PROMPT_LANGUAGES:
        yield from load_prompt_set(language)


def prompts_for(spec: RunSpec) -> list[str]:
    """The first ``batch_size`` prompts of the set (cycling): every repeat does identical work."""
    prompts = load_prompt_set(spec.language, spec.prompt_set)
    return [prompts[i % len(prompts)] for i in range(spec.batch_size)]


def prompts_per_image(prompts: list[str], images_per_prompt: int) -> list[str]:
    """Each prompt repeated for each of its images, in the order pipelines emit them (p0, p0, p1, p1)."""
    return [p for p in prompts for _ in range(images_per_prompt)]


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


@dataclass
class StageHooks:
    """Callbacks the measurement layer passes in to mark stage boundaries during a call."""

    on_step_end: Callable[..., dict[str, Any]] | None = None
    on_stage: Callable[[str, str], None] = field(default=lambda stage, edge: None)  # (stage, "start"|"end")


def run_workload(pipes: dict[str, Any], spec: RunSpec, generator: Any, hooks: StageHooks) -> list[Any]:
    """Execute one call of the run's task on built pipelines; return the PIL images produced."""
    prompts = prompts_for(spec)
    negative = spec.negative_prompt
    if "prior" in pipes:
        return _run_two_stage(pipes, spec, prompts, negative, generator, hooks)
    if spec.refiner:
        if "refiner" not in pipes:
            raise ScenarioError(f"refiner: run {spec.run_key} asks for the refiner but no refiner pipeline was built")
        return _run_with_refiner(pipes, spec, prompts, negative, generator, hooks)
    return _run_single_stage(pipes["main"], spec, prompts, negative, generator, hooks)


def _run_with_refiner(
    pipes: dict[str, Any], spec: RunSpec, prompts: list[str], negative: str | None, generator: Any, hooks: StageHooks
) -> list[Any]:
    """SDXL "ensemble of expert denoisers": the base denoises the first part of the schedule and hands its
    latents to the refiner, which runs the rest and decodes (the diffusers SDXL guide's recipe)."""
    import torch

    split = get_model(spec.model).refiner_start
    latents = _run_single_stage(
        pipes["main"], spec, prompts, negative, generator, hooks, denoising_end=split, output_type="latent"
    )
    # the base orders its images prompt by prompt (p0, p0, p1, p1 for two per prompt): one prompt per latent
    per_image = prompts_per_image(prompts, spec.images_per_prompt)
    refiner = pipes["refiner"]
    out = refiner(
        prompt=per_image,
        negative_prompt=[negative] * len(per_image) if negative is not None else None,
        image=torch.stack(latents),
        num_images_per_prompt=1,  # the latents already hold images_per_prompt images per prompt
        num_inference_steps=spec.steps,
        denoising_start=split,
        guidance_scale=spec.guidance_scale,
        generator=generator,
        **_step_kwargs(refiner, hooks),
    )
    return list(out.images)


def _step_kwargs(pipe: Any, hooks: StageHooks) -> dict[str, Any]:
    """Per-step callback arguments in whichever form the pipeline takes (2.1 has only the legacy one)."""
    if hooks.on_step_end is None:
        return {}
    params = inspect.signature(pipe.__call__).parameters
    if "callback_on_step_end" in params:
        return {"callback_on_step_end": hooks.on_step_end}
    on_step_end = hooks.on_step_end
    return {"callback": lambda step, timestep, latents: on_step_end(pipe, step, timestep, {}), "callback_steps": 1}


def _run_two_stage(
    pipes: dict[str, Any], spec: RunSpec, prompts: list[str], negative: str | None, generator: Any, hooks: StageHooks
) -> list[Any]:
    prior = pipes["prior"]
    decoder = pipes["decoder"]
    is_v21 = spec.model == "kandinsky-2.1"
    hooks.on_stage("prior", "start")
    if spec.task == "mix":
        # Guide-style mixing: a prompt and an image (then more prompts) blended with the given weights.
        n = len(spec.mix_weights)
        items: list[Any] = [prompts[0], synthetic_image(spec.width, spec.height, spec.seed)]
        items += [prompts[i % len(prompts)] for i in range(2, n)]
        out = prior.interpolate(
            items,
            list(spec.mix_weights),
            num_images_per_prompt=spec.images_per_prompt,
            num_inference_steps=spec.prior_steps or 25,
            generator=generator,
            guidance_scale=spec.guidance_scale,
        )
        decoder_prompts = [prompts[0]] * spec.images_per_prompt
    else:
        out = prior(
            prompts,
            negative_prompt=negative,
            num_images_per_prompt=spec.images_per_prompt,
            num_inference_steps=spec.prior_steps or 25,
            generator=generator,
            guidance_scale=spec.guidance_scale,
        )
        decoder_prompts = prompts_per_image(prompts, spec.images_per_prompt)
    hooks.on_stage("prior", "end")
    kwargs: dict[str, Any] = {
        "image_embeds": out.image_embeds,
        "negative_image_embeds": out.negative_image_embeds,
        "height": spec.height,
        "width": spec.width,
        "num_inference_steps": spec.steps,
        "guidance_scale": spec.guidance_scale,
        "generator": generator,
        **_step_kwargs(decoder, hooks),
    }
    if is_v21:  # the 2.1 decoder re-encodes the text with M-CLIP: one prompt per image embedding
        kwargs["prompt"] = decoder_prompts
        if negative is not None:
            kwargs["negative_prompt"] = [negative] * len(decoder_prompts)
    n_images = len(decoder_prompts)  # one input image (and mask) per image embedding
    if spec.task == "img2img":
        kwargs["image"] = [synthetic_image(spec.width, spec.height, spec.seed)] * n_images
        kwargs["strength"] = spec.strength
    elif spec.task == "inpaint":
        kwargs["image"] = [synthetic_image(spec.width, spec.height, spec.seed)] * n_images
        kwargs["mask_image"] = [inpaint_mask(spec.width, spec.height)] * n_images
    return list(decoder(**kwargs).images)


def _run_single_stage(
    pipe: Any,
    spec: RunSpec,
    prompts: list[str],
    negative: str | None,
    generator: Any,
    hooks: StageHooks,
    **extra: Any,
) -> list[Any]:
    """One call of a single-pipeline model; ``extra`` adds call arguments (the refiner hand-off)."""
    kwargs: dict[str, Any] = {
        "prompt": prompts,
        "negative_prompt": [negative] * len(prompts) if negative is not None else None,
        "num_images_per_prompt": spec.images_per_prompt,
        "num_inference_steps": spec.steps,
        "guidance_scale": spec.guidance_scale,
        "generator": generator,
        **_step_kwargs(pipe, hooks),
        **get_model(spec.model).call_options,
        **extra,
    }
    if spec.task == "img2img" and not get_model(spec.model).img2img_strength:
        # Kandinsky 5 I2I: the source image conditions a full run (no strength). Its pipeline pairs one source
        # image with each prompt for Qwen2.5-VL and with each latent for the VAE, which only agree at one image
        # per prompt; so each prompt is repeated images_per_prompt times (same images, same order).
        per_image = prompts_per_image(prompts, spec.images_per_prompt)
        kwargs["prompt"] = per_image
        kwargs["negative_prompt"] = [negative] * len(per_image) if negative is not None else None
        kwargs["num_images_per_prompt"] = 1
        kwargs["image"] = [synthetic_image(spec.width, spec.height, spec.seed)] * len(per_image)
    elif spec.task == "img2img":
        kwargs["image"] = [synthetic_image(spec.width, spec.height, spec.seed)] * len(prompts)
        kwargs["strength"] = spec.strength
        if "height" in inspect.signature(pipe.__call__).parameters and _sizes_default_to_model(pipe):
            kwargs["height"] = spec.height
            kwargs["width"] = spec.width
    else:
        kwargs["height"] = spec.height
        kwargs["width"] = spec.width
        if spec.task == "inpaint":
            kwargs["image"] = [synthetic_image(spec.width, spec.height, spec.seed)] * len(prompts)
            kwargs["mask_image"] = [_mask_image(spec.width, spec.height)] * len(prompts)
    out = pipe(**kwargs)
    return list(out.images if hasattr(out, "images") else out.image)  # Kandinsky 5 names the field ``image``


def _sizes_default_to_model(pipe: Any) -> bool:
    """FLUX image-to-image resizes its input to its own default size unless height/width are given."""
    return type(pipe).__name__.startswith("Flux")


def _mask_image(width: int, height: int) -> Image.Image:
    """The inpainting mask as a greyscale image (white = repaint), the form every diffusers pipeline accepts."""
    import numpy as np
    from PIL import Image

    return Image.fromarray((inpaint_mask(width, height) * 255).astype(np.uint8), "L")

"""Task -> pipeline call: one call of a run's task on built pipelines, as the model's call plan describes it.

The calls follow the Kandinsky deployment guide: 2.x text-to-image is prior then decoder, image mixing is
``prior.interpolate`` over prompts and images with weights, inpainting uses the inpaint decoder with a mask,
outpainting the same pipeline at the larger canvas (the source placed on it, the mask over the new border),
image-to-image takes a strength. Which pipelines run and whether a pipeline gets one prompt per image come
from the call plan (:mod:`bench.models.callplan`), the same plan the cost code counts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.errors import ScenarioError
from bench.models.registry import call_plan, get_model
from bench.models.types import RolePlan
from bench.prompts import load_prompt_set
from bench.spec import RunSpec, Workload
from bench.workloads.inputs import as_mask_image, inpaint_mask, outpaint_image, outpaint_mask, synthetic_image


@dataclass
class StageHooks:
    """Callbacks the measurement layer passes in to mark stage boundaries during a call."""

    on_step_end: Callable[..., dict[str, Any]] | None = None
    on_stage: Callable[[str, str], None] = field(default=lambda stage, edge: None)  # (stage, "start"|"end")


def prompts_for(spec: RunSpec) -> list[str]:
    """The first ``batch_size`` prompts of the set (cycling): every repeat does identical work."""
    prompts = load_prompt_set(spec.language, spec.prompt_set)
    return [prompts[i % len(prompts)] for i in range(spec.batch_size)]


def prompt_arguments(
    role: RolePlan, prompts: list[str], negative: str | None, images_per_prompt: int
) -> dict[str, Any]:
    """``prompt``, ``negative_prompt`` and ``num_images_per_prompt`` for one pipeline of the plan.

    A pipeline that takes one prompt per image gets each prompt repeated for each of its images, in the order
    pipelines emit them (p0, p0, p1, p1). The negative prompt is always one per prompt: several pipelines
    (the 2.x priors) concatenate the negative list to the prompt list, which only works at equal lengths.
    """
    if role.prompt_per_image:
        prompts, images_per_prompt = [p for p in prompts for _ in range(images_per_prompt)], 1
    return {
        "prompt": prompts,
        "negative_prompt": [negative] * len(prompts) if negative is not None else None,
        "num_images_per_prompt": images_per_prompt,
    }


def masked_inputs(spec: RunSpec) -> tuple[Any, Any]:
    """The image and float mask (1 = repaint) an in- or outpainting call is given, both at the canvas size."""
    if spec.outpaint is not None:
        return (
            outpaint_image(spec.width, spec.height, spec.seed, spec.outpaint),
            outpaint_mask(spec.width, spec.height, spec.outpaint),
        )
    return synthetic_image(spec.width, spec.height, spec.seed), inpaint_mask(spec.width, spec.height)


def run_workload(
    pipes: dict[str, Any], spec: RunSpec, generator: Any, hooks: StageHooks, prompts: list[str] | None = None
) -> list[Any]:
    """Execute one call of the run's task on built pipelines; return the PIL images produced.

    ``prompts`` (``spec.batch_size`` of them) replaces the prompt set's: a server passes its requests' prompts.
    """
    plan = call_plan(Workload.from_spec(spec))
    roles = {r.role for r in plan.roles}
    if prompts is not None and len(prompts) != spec.batch_size:
        raise ValueError(f"run_workload: {len(prompts)} prompts for batch size {spec.batch_size}")
    prompts = prompts_for(spec) if prompts is None else list(prompts)
    if "prior" in roles:
        return _run_two_stage(pipes, spec, plan.roles, prompts, generator, hooks)
    if "refiner" in roles:
        if "refiner" not in pipes:
            raise ScenarioError(f"refiner: run {spec.run_key} asks for the refiner but no refiner pipeline was built")
        return _run_with_refiner(pipes, spec, plan.roles, prompts, generator, hooks)
    return _run_single_stage(pipes["main"], spec, plan.roles[0], prompts, generator, hooks)


def _run_with_refiner(
    pipes: dict[str, Any],
    spec: RunSpec,
    roles: tuple[RolePlan, ...],
    prompts: list[str],
    generator: Any,
    hooks: StageHooks,
) -> list[Any]:
    """SDXL "ensemble of expert denoisers": the base denoises the first part of the schedule and hands its
    latents to the refiner, which runs the rest and decodes (the diffusers SDXL guide's recipe)."""
    import torch

    main, refiner_plan = roles
    split = get_model(spec.model).refiner_start
    latents = _run_single_stage(
        pipes["main"], spec, main, prompts, generator, hooks, denoising_end=split, output_type="latent"
    )
    refiner = pipes["refiner"]
    out = refiner(
        # one prompt per latent: the latents already hold images_per_prompt images per prompt
        **prompt_arguments(refiner_plan, prompts, spec.negative_prompt, spec.images_per_prompt),
        image=torch.stack(latents),
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
    pipes: dict[str, Any],
    spec: RunSpec,
    roles: tuple[RolePlan, ...],
    prompts: list[str],
    generator: Any,
    hooks: StageHooks,
) -> list[Any]:
    """Kandinsky 2.x: the prior turns text (or a mix of texts and images) into image embeddings, the decoder
    (or the inpaint decoder) turns each embedding into an image."""
    prior_plan, decoder_plan = roles
    prior, decoder = pipes["prior"], pipes["decoder"]
    hooks.on_stage("prior", "start")
    if spec.task == "mix":
        # Guide-style mixing: a prompt and an image (then more prompts) blended with the given weights. The
        # negative prompt guides each text's prior run and gives the negative embedding, as in text-to-image.
        n = len(spec.mix_weights)
        items: list[Any] = [prompts[0], synthetic_image(spec.width, spec.height, spec.seed)]
        items += [prompts[i % len(prompts)] for i in range(2, n)]
        out = prior.interpolate(
            items,
            list(spec.mix_weights),
            num_images_per_prompt=spec.images_per_prompt,
            num_inference_steps=spec.prior_steps or 25,
            generator=generator,
            negative_prior_prompt=spec.negative_prompt,
            negative_prompt=spec.negative_prompt or "",
            guidance_scale=spec.guidance_scale,
        )
        decoder_prompts = prompts[:1]  # one blended embedding set: images_per_prompt images
        image_embeds = _one_per_image(out.image_embeds, out.negative_image_embeds)
    else:
        out = prior(
            **prompt_arguments(prior_plan, prompts, spec.negative_prompt, spec.images_per_prompt),
            num_inference_steps=spec.prior_steps or 25,
            generator=generator,
            guidance_scale=spec.guidance_scale,
        )
        decoder_prompts = prompts
        image_embeds = out.image_embeds
    hooks.on_stage("prior", "end")
    width, height = spec.canvas
    kwargs: dict[str, Any] = {
        "image_embeds": image_embeds,
        "negative_image_embeds": out.negative_image_embeds,
        "height": height,
        "width": width,
        "num_inference_steps": spec.steps,
        "guidance_scale": spec.guidance_scale,
        "generator": generator,
        **_step_kwargs(decoder, hooks),
    }
    if "text_encoder" in decoder.components:  # the 2.1 decoder re-encodes the text with M-CLIP
        kwargs |= prompt_arguments(decoder_plan, decoder_prompts, spec.negative_prompt, spec.images_per_prompt)
    n_images = len(decoder_prompts) * spec.images_per_prompt  # one input image (and mask) per image embedding
    if spec.task == "img2img":
        kwargs["image"] = [synthetic_image(spec.width, spec.height, spec.seed)] * n_images
        kwargs["strength"] = spec.strength
    elif spec.task in ("inpaint", "outpaint"):
        image, mask = masked_inputs(spec)
        kwargs["image"] = [image] * n_images
        kwargs["mask_image"] = [mask] * n_images
    return list(decoder(**kwargs).images)


def _one_per_image(blended: Any, negative: Any) -> Any:
    """The blended embedding of ``interpolate``, one row per image as the negative embeddings are.

    2.2 returns one row per image; 2.1 returns a single row beside ``images_per_prompt`` negative rows, so its
    decoder fails on more than one image per prompt. Repeating the blend makes both agree.
    """
    if blended.shape[0] == negative.shape[0]:
        return blended
    return blended.reshape(1, -1).expand(negative.shape[0], -1)


def _run_single_stage(
    pipe: Any,
    spec: RunSpec,
    role: RolePlan,
    prompts: list[str],
    generator: Any,
    hooks: StageHooks,
    **extra: Any,
) -> list[Any]:
    """One call of a single-pipeline model; ``extra`` adds call arguments (the refiner hand-off).

    Kandinsky 5 I2I's plan gives one prompt per image: its pipeline pairs one source image with each prompt for
    Qwen2.5-VL and with each latent for the VAE, which only agree at one image per prompt.
    """
    args = prompt_arguments(role, prompts, spec.negative_prompt, spec.images_per_prompt)
    kwargs: dict[str, Any] = {
        **args,
        "num_inference_steps": spec.steps,
        "guidance_scale": spec.guidance_scale,
        "generator": generator,
        **_step_kwargs(pipe, hooks),
        **get_model(spec.model).call_options,
        **extra,
    }
    n_inputs = len(args["prompt"])  # one source image (and mask) per prompt the pipeline is given
    if spec.task == "img2img":
        kwargs["image"] = [synthetic_image(spec.width, spec.height, spec.seed)] * n_inputs
        if get_model(spec.model).img2img_strength:  # Kandinsky 5 I2I: the source image conditions a full run
            kwargs["strength"] = spec.strength
        if "height" in inspect.signature(pipe.__call__).parameters and _sizes_default_to_model(pipe):
            kwargs["height"] = spec.height
            kwargs["width"] = spec.width
    else:
        kwargs["width"], kwargs["height"] = spec.canvas
        if spec.task in ("inpaint", "outpaint"):
            image, mask = masked_inputs(spec)
            kwargs["image"] = [image] * n_inputs
            kwargs["mask_image"] = [as_mask_image(mask)] * n_inputs
    out = pipe(**kwargs)
    return list(out.images if hasattr(out, "images") else out.image)  # Kandinsky 5 names the field ``image``


def _sizes_default_to_model(pipe: Any) -> bool:
    """FLUX image-to-image resizes its input to its own default size unless height/width are given."""
    return type(pipe).__name__.startswith("Flux")

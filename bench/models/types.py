"""The registry's types: what a model is built from and how its pipeline calls its components.

Pure data (no torch import), so scenario validation and cost estimates can consult a model before anything
heavy is loaded. The entries live in :mod:`bench.models.registry`, the per-family call rules in
:mod:`bench.models.callplan`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.spec import Workload

DENOISERS = ("unet", "transformer")
VAE_SCALE = 8  # every full-size MoVQ and AutoencoderKL here: 4 blocks, latent side = image side / 8


def images_per_call(w: Workload) -> int:
    """Images one pipeline call of ``w`` returns: image mixing blends the batch's prompts into one image set."""
    return w.images_per_prompt if w.task == "mix" else w.images_per_call


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
    shares: tuple[str, ...] = ()  # components taken from the main pipeline: their weights are held once


@dataclass(frozen=True)
class ComponentCall:
    """How one pipeline call uses one neural component: ``calls`` forwards of ``batch`` rows each.

    ``method`` is the module method the pipeline calls (``decode`` for VAEs, else ``forward``); ``text_tokens``
    is the prompt length the component sees (None: its encoder family's default, see
    :mod:`bench.cost.counting.inputs`); ``image_hw`` is the source image a vision-language text encoder reads.
    """

    role: str
    stage: str
    component: str
    batch: int
    calls: int
    dtype: str
    method: str = "forward"
    text_tokens: int | None = None
    image_hw: tuple[int, int] | None = None

    @property
    def rows(self) -> float:
        """Rows the component processes per pipeline call (batch x calls)."""
        return self.batch * self.calls


@dataclass(frozen=True)
class RolePlan:
    """One pipeline of a run and the component calls it makes.

    ``prompt_per_image``: the pipeline is given one prompt per image (each prompt repeated images_per_prompt
    times, ``num_images_per_prompt=1``); otherwise the prompts of the batch and ``num_images_per_prompt``.
    """

    role: str
    calls: tuple[ComponentCall, ...]
    prompt_per_image: bool = False


@dataclass(frozen=True)
class CallPlan:
    """Everything a workload makes its pipelines compute, as the run path and the counting path both read it."""

    workload: Workload
    size: tuple[int, int]  # (width, height) of the images the pipeline makes (some snap to trained sizes)
    latent_hw: tuple[int, int]  # (height, width) of the denoiser's latent
    cfg: bool  # classifier-free guidance doubles the denoiser work
    denoise_steps: int  # steps of the main denoiser (img2img strength and the refiner split applied)
    roles: tuple[RolePlan, ...]

    @property
    def images(self) -> int:
        return images_per_call(self.workload)

    @property
    def calls(self) -> tuple[ComponentCall, ...]:
        return tuple(c for r in self.roles for c in r.calls)

    def role(self, name: str) -> RolePlan:
        return next(r for r in self.roles if r.role == name)


@dataclass(frozen=True)
class FamilyPlan:
    """The call rules a model family's pipelines follow (functions of the model and the workload)."""

    roles: Callable[[ModelSpec, Workload], tuple[RolePlan, ...]]
    latent_side: Callable[[int, int], int]  # (image side, VAE downscale factor) -> latent side
    cfg: Callable[[ModelSpec, Workload], bool]
    denoise_steps: Callable[[ModelSpec, Workload], int]


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
    plan: FamilyPlan
    prior_steps: int | None = None
    multilingual: dict[str, bool] = field(default_factory=dict)
    multilingual_source: str = ""
    call_options: dict[str, int] = field(default_factory=dict)  # extra pipeline-call arguments that change cost
    refiner_tasks: tuple[str, ...] = ()  # tasks that may add the optional ``refiner`` role after the main one
    refiner_start: float = 0.8  # fraction of the noise schedule the main pipeline runs before the refiner takes over
    img2img_strength: bool = True  # img2img noises the input to ``strength``; False: the input conditions a full run
    inpaint_strength: float | None = None  # the inpaint pipeline's default strength (the harness passes none)
    trained_sizes: tuple[tuple[int, int], ...] = ()  # (width, height) the pipeline snaps other sizes to

    def role_for(self, task: str) -> tuple[str, ...]:
        return self.task_roles[task]

    @property
    def has_refiner(self) -> bool:
        return "refiner" in self.roles

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) the pipeline generates: a trained size of the nearest aspect ratio where it snaps."""
        if not self.trained_sizes or (width, height) in self.trained_sizes:
            return width, height
        return min(self.trained_sizes, key=lambda s: abs(s[0] / s[1] - width / height))

    def call_plan(self, w: Workload) -> CallPlan:
        """The component calls one pipeline call of ``w`` makes, with the shapes they see (at the outpainting
        canvas, where the source is placed on a larger one)."""
        width, height = self.output_size(*w.canvas)
        return CallPlan(
            workload=w,
            size=(width, height),
            latent_hw=(self.plan.latent_side(height, VAE_SCALE), self.plan.latent_side(width, VAE_SCALE)),
            cfg=self.plan.cfg(self, w),
            denoise_steps=self.plan.denoise_steps(self, w),
            roles=self.plan.roles(self, w),
        )

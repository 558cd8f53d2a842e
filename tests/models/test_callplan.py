"""Each model's call plan against the forward calls of a real tiny pipeline run.

Every neural component of the built pipelines is hooked (``forward``, and ``decode`` for the VAEs): a real
tiny run of each model x task records how many times each component ran and on how many rows; the call plan
that the cost code counts must say the same, and the denoiser must see the plan's latent size (outpainting: the
latent of its canvas, 64x64 extended to 112x80 by ``tests.factories.TINY_OUTPAINT``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import torch

from bench.models.build import PIPE_KEYS, build_pipelines
from bench.models.registry import MODELS, call_plan, get_model
from bench.models.types import DENOISERS, CallPlan
from bench.spec import RunSpec, Workload
from bench.workloads import StageHooks, run_workload
from tests.factories import tiny_spec

ROW_KEYS = ("input_ids", "pixel_values", "sample", "hidden_states", "z")
# (batch, images per prompt, negative prompt): the shapes that change how often and how wide components run
OPTIONS = [(1, 1, None), (2, 2, "low quality, blurry")]
CASES = [
    (m, t, refiner, opt)
    for m, spec in MODELS.items()
    for t in spec.tasks
    for refiner in ([False, True] if t in spec.refiner_tasks else [False])
    for opt in OPTIONS
]


def _rows(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[int, tuple[int, ...]]:
    """Leading dimension and shape of the call's main input (ids, pixels, latents), as the pipeline passed it."""
    for key in ROW_KEYS:
        if isinstance(kwargs.get(key), torch.Tensor):
            return int(kwargs[key].shape[0]), tuple(kwargs[key].shape)
    first = next(a for a in args if isinstance(a, torch.Tensor))
    return int(first.shape[0]), tuple(first.shape)


class CallLog:
    """Forward (or decode) calls per module object: the count, the rows, the input shapes."""

    def __init__(self) -> None:
        self.calls: dict[int, int] = defaultdict(int)
        self.rows: dict[int, int] = defaultdict(int)
        self.shapes: dict[int, list[tuple[int, ...]]] = defaultdict(list)

    def record(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        rows, shape = _rows(args, kwargs)
        self.calls[id(module)] += 1
        self.rows[id(module)] += rows
        self.shapes[id(module)].append(shape)

    def hook(self, module: Any, method: str) -> None:
        if method == "forward":
            module.register_forward_pre_hook(lambda m, a, k: self.record(m, a, k), with_kwargs=True)
            return
        original = getattr(module, method)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.record(module, args, kwargs)
            return original(*args, **kwargs)

        setattr(module, method, wrapped)


def _spec(model: str, task: str, refiner: bool, option: tuple[int, int, str | None]) -> RunSpec:
    batch, per_prompt, negative = option
    return tiny_spec(
        model=model,
        task=task,
        refiner=refiner,
        steps=4,
        prior_steps=2,
        strength=0.5,
        batch_size=batch,
        images_per_prompt=per_prompt,
        negative_prompt=negative,
        guidance_scale=get_model(model).default_guidance,
    )


def _module(pipes: dict[str, Any], role: str, component: str) -> Any:
    return pipes[PIPE_KEYS.get(role, role)].components[component]


def _expected(plan: CallPlan, pipes: dict[str, Any]) -> tuple[dict[int, float], dict[int, float], dict[int, str]]:
    """Planned calls and rows per module object (a module shared by two pipelines sums both)."""
    calls: dict[int, float] = defaultdict(float)
    rows: dict[int, float] = defaultdict(float)
    names: dict[int, str] = {}
    for c in plan.calls:
        module = _module(pipes, c.role, c.component)
        calls[id(module)] += c.calls
        rows[id(module)] += c.rows
        names[id(module)] = f"{c.role}/{c.component}"
    return calls, rows, names


@pytest.mark.parametrize(("model", "task", "refiner", "option"), CASES)
def test_plan_matches_the_calls_of_a_real_tiny_run(model, task, refiner, option):
    spec = _spec(model, task, refiner, option)
    plan = call_plan(Workload.from_spec(spec))
    pipes = build_pipelines(model, task, "tiny", "cpu", "fp32", refiner=refiner)
    log = CallLog()
    hooked: set[int] = set()
    for pipe in pipes.values():
        for name, module in pipe.components.items():
            if isinstance(module, torch.nn.Module) and id(module) not in hooked:
                hooked.add(id(module))
                log.hook(module, "decode" if name in ("vae", "movq") else "forward")
    images = run_workload(pipes, spec, torch.Generator().manual_seed(0), StageHooks())
    assert len(images) == plan.images
    assert {image.size for image in images} == {plan.size}
    calls, rows, names = _expected(plan, pipes)
    observed = {names.get(k, f"unplanned {k}"): (log.calls[k], log.rows[k]) for k in log.calls}
    planned = {names[k]: (calls[k], rows[k]) for k in calls}
    assert observed == planned
    # the denoiser sees the plan's latent; the tiny VAEs downscale less than the full-size 8
    model_spec = get_model(model)
    for c in plan.calls:
        if c.component in DENOISERS:
            pipe = pipes[PIPE_KEYS.get(c.role, c.role)]
            vae = pipe.components.get("vae") or pipe.components["movq"]
            scale = 2 ** (len(vae.config.block_out_channels) - 1)
            width, height = plan.size
            latent = (model_spec.plan.latent_side(height, scale), model_spec.plan.latent_side(width, scale))
            shape = log.shapes[id(_module(pipes, c.role, c.component))][0]
            assert _latent_hw(shape) in (latent, (latent[0] // 2) * (latent[1] // 2))


def _latent_hw(shape: tuple[int, ...]) -> tuple[int, int] | int:
    """The latent (height, width) a denoiser input of ``shape`` carries; FLUX.1's packed token count."""
    if len(shape) == 4:  # UNets: (batch, channels, h, w)
        return shape[2], shape[3]
    if len(shape) == 5:  # Kandinsky 5: (batch, frames, h, w, channels)
        return shape[2], shape[3]
    return shape[1]  # FLUX.1: one token per 2x2 latent patch

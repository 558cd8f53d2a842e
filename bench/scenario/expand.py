"""Matrix expansion: one validated :class:`ScenarioSpec` -> the list of :class:`RunSpec` it stands for."""

from __future__ import annotations

import itertools
import math
from typing import Any

from bench.models.registry import get_model
from bench.scenario.optimise import axis_values
from bench.scenario.schema import ScenarioSpec
from bench.spec import Optimisation, RunSpec, parse_resolution

DEFAULT_MAX_RUNS = 10_000  # a sweep larger than this is almost always a typo in a list; --max-runs raises it


def _matches(entry: dict[str, Any], values: dict[str, Any]) -> bool:
    for key, want in entry.items():
        have = values[key]
        if key == "resolution":
            want = parse_resolution(want)
        if have != want:
            return False
    return True


def matrix_size(scenario: ScenarioSpec) -> int:
    """How many combinations the scenario's lists multiply to, before ``exclude:`` (counted, not built)."""
    lists = (
        scenario.tasks,
        scenario.resolutions or [(0, 0)],  # the model's default: one value
        scenario.steps or [0],
        scenario.serve.max_batch if scenario.serve else scenario.batch_sizes,  # served: a run per max batch
        scenario.images_per_prompt,
        scenario.dtypes,
        scenario.memory,
        scenario.languages,
        scenario.refiner,
    )
    cells = scenario.optimise.size() if scenario.optimise else 1
    return len(scenario.models) * math.prod(len(values) for values in lists) * cells


def expand(scenario: ScenarioSpec, *, source: str | None = None, sha256: str | None = None) -> list[RunSpec]:
    """Expand one scenario's matrix into runs, dropping excluded combinations."""
    runs: list[RunSpec] = []
    for model_id in scenario.models:
        model = get_model(model_id)
        resolutions = scenario.resolutions or [model.default_resolution]
        steps_list = scenario.steps or [model.default_steps]
        matrix = itertools.product(
            scenario.tasks,
            resolutions,
            steps_list,
            scenario.serve.max_batch if scenario.serve else scenario.batch_sizes,
            scenario.images_per_prompt,
            scenario.dtypes,
            scenario.memory,
            scenario.languages,
            scenario.refiner,
        )
        for task, (width, height), steps, batch, ipp, dtype, memory, language, refiner in matrix:
            values = {
                "model": model_id,
                "task": task,
                "resolution": (width, height),
                "steps": steps,
                "batch_size": batch,
                "images_per_prompt": ipp,
                "dtype": dtype,
                "memory": memory,
                "language": language,
                "refiner": refiner,
            }
            for cell in scenario.optimise.cells() if scenario.optimise else [Optimisation()]:
                cell_values = {**values, **axis_values(cell)}
                if task not in model.tasks or any(_matches(e, cell_values) for e in scenario.exclude):
                    continue
                runs.append(
                    RunSpec(
                        scenario=scenario.name,
                        scenario_file=source,
                        scenario_sha256=sha256,
                        model=model_id,
                        task=task,
                        weights=scenario.weights,
                        hub=dict(scenario.hub),
                        width=width,
                        height=height,
                        steps=steps,
                        prior_steps=scenario.prior_steps or model.prior_steps,
                        batch_size=batch,
                        images_per_prompt=ipp,
                        guidance_scale=model.default_guidance
                        if scenario.guidance_scale is None
                        else scenario.guidance_scale,
                        # a pipeline without a strength argument always runs the whole schedule
                        strength=scenario.strength if model.img2img_strength else 1.0,
                        mix_weights=tuple(scenario.mix_weights),
                        dtype=dtype,
                        device=scenario.device,
                        memory=memory,
                        language=language,
                        prompt_set=scenario.prompt_set,
                        negative_prompt=scenario.negative_prompt,
                        seed=scenario.seed,
                        warmup=scenario.warmup,
                        repeats=scenario.repeats,
                        max_repeats=scenario.max_repeats or scenario.repeats,
                        target_ci=scenario.target_ci,
                        max_time_s=scenario.max_time_s,
                        timeout_s=scenario.timeout_s,
                        memory_limit_mb=scenario.memory_limit_mb,
                        cpu_threads=scenario.cpu_threads,
                        refiner=refiner,
                        gpu=scenario.gpu,
                        optimise=cell,
                        outpaint=scenario.outpaint_for(model_id, task, width, height),
                    )
                )
    return runs

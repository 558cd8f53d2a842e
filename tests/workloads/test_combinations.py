"""Every workload option that changes how a pipeline is called, on every model x task, pairwise-complete.

The options (batch size, images per prompt, negative prompt, prompt language, guidance on or off, and where
a model or task has one the SDXL refiner, the img2img strength and the number of items mixed) are combined by
a covering array: a small greedy all-pairs generator (below, deterministic; no third-party library) gives runs
in which every pair of values of two options appears at least once. Each run is made on real tiny pipelines,
built once per model x task for the module, and must return the planned number of images at the planned size.

One reference run per model x task (one image, the model's default guidance) checks what the seed and the
guidance options do: the same seed gives the same images byte for byte, another seed other images, and where
the model has classifier-free guidance a negative prompt and guidance off each change the images (an option
the run path dropped would not); where it has none, a negative prompt changes nothing. Kandinsky 5 renders
every size at a trained size (1024x1024 for 64x64), so its runs are by far the slowest here; the reference
checks stay at one image to keep the module quick.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest
import torch

from bench.models.build import build_pipelines
from bench.models.registry import MODELS, call_plan, get_model
from bench.prompts import NEGATIVE_DEFAULT
from bench.spec import LANGUAGES, RunSpec, Workload
from bench.workloads import StageHooks, run_workload
from tests.factories import tiny_spec

Row = dict[str, Any]
SEED = 1234
NEGATIVE = NEGATIVE_DEFAULT
MIX_WEIGHTS = {2: (0.5, 0.5), 3: (0.4, 0.3, 0.3)}  # a prompt and an image; then one more prompt
# Random weights that make images without reading the text: Kandinsky 5's transformer zero-initialises its
# adaLN modulation (adaLN-Zero), so until trained every gated block adds nothing and the output depends on
# the noise alone; a negative prompt or guidance off cannot change its images.
TEXT_BLIND = ("kandinsky-5-lite",)


def all_pairs(factors: dict[str, Sequence[Any]]) -> list[Row]:
    """Rows in which every pair of values of two factors appears at least once (a strength-2 covering array).

    Greedy, in the manner of AETG (Cohen et al., "The AETG system", IEEE TSE 23(7), 1997) without its random
    candidates: each row starts from the first pair not yet covered, then gives every other factor the value
    that covers the most uncovered pairs with the factors already set (the first such value on a tie).
    Factors with more values go first, which keeps the row count near the product of the two largest domains.
    """
    names = sorted(factors, key=lambda n: -len(factors[n]))
    if len(names) < 2:  # no pairs: every value of the one factor (or the one empty row)
        return [dict(zip(names, values, strict=True)) for values in itertools.product(*factors.values())]
    uncovered = {
        ((a, i), (b, j))
        for a, b in itertools.combinations(names, 2)
        for i in range(len(factors[a]))
        for j in range(len(factors[b]))
    }
    rows: list[Row] = []
    while uncovered:
        (a, i), (b, j) = min(uncovered, key=lambda p: (names.index(p[0][0]), names.index(p[1][0]), p[0][1], p[1][1]))
        chosen = {a: i, b: j}
        for name in names:
            if name in chosen:
                continue
            gains = [
                sum(((n, k), (name, v)) in uncovered or ((name, v), (n, k)) in uncovered for n, k in chosen.items())
                for v in range(len(factors[name]))
            ]
            chosen[name] = gains.index(max(gains))
        uncovered -= {((x, chosen[x]), (y, chosen[y])) for x, y in itertools.combinations(names, 2)}
        rows.append({name: factors[name][chosen[name]] for name in factors})
    return rows


def factors_for(model: str, task: str) -> dict[str, Sequence[Any]]:
    """The options of one model x task that change the pipeline call, each with the values to combine."""
    spec = get_model(model)
    factors: dict[str, Sequence[Any]] = {
        "batch_size": (1, 2),
        "images_per_prompt": (1, 2),
        "negative_prompt": (None, NEGATIVE),
        "language": LANGUAGES,
        # 1.0 turns classifier-free guidance off where the model has it; FLUX.1 takes both without it
        "guidance_scale": tuple(dict.fromkeys((1.0, spec.default_guidance))),
    }
    if task in spec.refiner_tasks:
        factors["refiner"] = (False, True)
    if task == "img2img" and spec.img2img_strength:  # at 2 steps: one step from a noised input, or all of them
        factors["strength"] = (0.5, 1.0)
    if task == "mix":
        factors["mix_items"] = tuple(MIX_WEIGHTS)
    return factors


def spec_for(model: str, task: str, row: Row, seed: int = SEED) -> RunSpec:
    options = {k: v for k, v in row.items() if k != "mix_items"}
    return tiny_spec(
        model=model,
        task=task,
        steps=2,
        prior_steps=2,
        seed=seed,
        mix_weights=MIX_WEIGHTS[row.get("mix_items", 2)],
        **options,
    )


def _row_id(row: Row) -> str:
    parts = [f"b{row['batch_size']}x{row['images_per_prompt']}", row["language"], f"g{row['guidance_scale']:g}"]
    parts += ["neg"] if row["negative_prompt"] else []
    parts += ["refiner"] if row.get("refiner") else []
    parts += [f"s{row['strength']:g}"] if "strength" in row else []
    parts += [f"mix{row['mix_items']}"] if "mix_items" in row else []
    return "-".join(parts)


MODEL_TASKS = [(model, task) for model, spec in MODELS.items() for task in spec.tasks]
# Kandinsky 5 makes a 1024x1024 image for every request, two thirds of this module's time: marked slow, so
# ``-m "not slow"`` leaves a quick pass over the other models
SLOW_MODELS = ("kandinsky-5-lite",)
CASES = [
    pytest.param(
        model,
        task,
        row,
        id=f"{model}-{task}-{_row_id(row)}",
        marks=[pytest.mark.slow] if model in SLOW_MODELS else [],
    )
    for model, task in MODEL_TASKS
    for row in all_pairs(factors_for(model, task))
]


@cache
def _pipelines(model: str, task: str) -> dict[str, Any]:
    """One build per model x task (with the refiner where the task has one: a run without it ignores it)."""
    return build_pipelines(model, task, "tiny", "cpu", "fp32", refiner=task in get_model(model).refiner_tasks)


@pytest.fixture(scope="module")
def pipelines():
    # tiny pipelines are small ops: a thread pool costs more than it gives, most of all beside other work
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield _pipelines
    torch.set_num_threads(threads)
    _pipelines.cache_clear()


def _images(pipes: dict[str, Any], spec: RunSpec) -> list[bytes]:
    """The run's images as bytes, after checking their number and size against the call plan."""
    images = run_workload(pipes, spec, torch.Generator("cpu").manual_seed(spec.seed), StageHooks())
    plan = call_plan(Workload.from_spec(spec))
    assert len(images) == plan.images
    assert [image.size for image in images] == [plan.size] * plan.images
    return [image.tobytes() for image in images]


@pytest.mark.parametrize(("model", "task", "row"), CASES)
def test_every_pair_of_options_runs_as_planned(pipelines, model, task, row):
    _images(pipelines(model, task), spec_for(model, task, row))


def reference_row(model: str, task: str) -> Row:
    """One image at the model's default guidance, with the refiner where the task has one."""
    factors = factors_for(model, task)
    row = {name: values[0] for name, values in factors.items()}
    row["guidance_scale"] = get_model(model).default_guidance
    if "refiner" in row:
        row["refiner"] = True
    return row


@pytest.mark.parametrize(
    ("model", "task"),
    [pytest.param(m, t, marks=[pytest.mark.slow] if m in SLOW_MODELS else []) for m, t in MODEL_TASKS],
)
def test_the_seed_and_the_guidance_options_reach_the_pipeline(pipelines, model, task):
    pipes = pipelines(model, task)
    row = reference_row(model, task)
    images = _images(pipes, spec_for(model, task, row))
    assert _images(pipes, spec_for(model, task, row)) == images  # the same seed: the same bytes
    assert _images(pipes, spec_for(model, task, row, seed=SEED + 1)) != images
    if model in TEXT_BLIND:
        return
    negative = _images(pipes, spec_for(model, task, {**row, "negative_prompt": NEGATIVE}))
    if not call_plan(Workload.from_spec(spec_for(model, task, row))).cfg:
        assert negative == images  # FLUX.1: no unconditional pass (the plan counts none), so nothing reads it
        return
    assert negative != images
    assert _images(pipes, spec_for(model, task, {**row, "guidance_scale": 1.0})) != images


@pytest.mark.parametrize(("model", "task"), MODEL_TASKS)
def test_the_runs_cover_every_pair_of_option_values(model, task):
    factors = factors_for(model, task)
    rows = all_pairs(factors)
    for a, b in itertools.combinations(factors, 2):
        assert {(r[a], r[b]) for r in rows} == set(itertools.product(factors[a], factors[b])), (a, b)
    # near the lower bound: the product of the two largest domains, never the full product
    sizes = sorted((len(v) for v in factors.values()), reverse=True)
    assert sizes[0] * sizes[1] <= len(rows) <= sizes[0] * sizes[1] + 2


def test_all_pairs_on_a_hand_checked_example():
    # three binary options: four rows (the 2^(3-1) fractional factorial), the fewest that cover every pair
    assert all_pairs({"x": (0, 1), "y": ("a", "b"), "z": (True, False)}) == [
        {"x": 0, "y": "a", "z": True},
        {"x": 0, "y": "b", "z": False},
        {"x": 1, "y": "a", "z": False},
        {"x": 1, "y": "b", "z": True},
    ]
    # one option alone: each value once; no option: the one empty run
    assert all_pairs({"x": (0, 1, 2)}) == [{"x": 0}, {"x": 1}, {"x": 2}]
    assert all_pairs({}) == [{}]

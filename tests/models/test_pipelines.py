"""Real tiny diffusers pipelines for every model x task, and the hub (save_pretrained) round-trip."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen2VLProcessor

from bench.errors import ModelError
from bench.models.build import build_pipelines
from bench.models.callplan import k5_image_tokens
from bench.models.registry import MODELS, get_model
from bench.spec import RunSpec
from bench.workloads import StageHooks, run_workload
from tests.factories import tiny_spec

PAIRS = [(m, t) for m, spec in MODELS.items() for t in spec.tasks]
# Kandinsky 5 snaps any requested size to the nearest-aspect trained resolution (1024x1024 for a square).
OUTPUT_SIZE = {"kandinsky-5-lite": (1024, 1024)}


def _spec(model: str, task: str, **kw) -> RunSpec:
    return tiny_spec(model=model, task=task, **kw)


@pytest.mark.parametrize(("model", "task"), PAIRS)
def test_tiny_pipeline_runs(model, task):
    spec = _spec(model, task, batch_size=2, images_per_prompt=1, language="ru")
    pipes = build_pipelines(model, task, "tiny", "cpu", "fp32")
    steps: list[int] = []

    def on_step(pipe, i, t, kwargs):
        steps.append(i)
        return kwargs

    images = run_workload(pipes, spec, torch.Generator().manual_seed(0), StageHooks(on_step_end=on_step))
    expected = 1 if task == "mix" else 2
    assert len(images) == expected
    assert images[0].size == OUTPUT_SIZE.get(model, spec.canvas)  # outpainting renders its larger canvas
    assert len(steps) >= 1


def test_same_seed_same_image():
    spec = _spec("kandinsky-2.2", "text2img")
    pipes = build_pipelines("kandinsky-2.2", "text2img", "tiny", "cpu", "fp32")
    a = run_workload(pipes, spec, torch.Generator().manual_seed(3), StageHooks())[0]
    b = run_workload(pipes, spec, torch.Generator().manual_seed(3), StageHooks())[0]
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    ("model", "task"),
    [
        ("kandinsky-2.2", "text2img"),
        ("kandinsky-2.1", "inpaint"),
        ("kandinsky-3", "img2img"),
        ("sdxl-base", "inpaint"),
        ("flux.1-schnell", "text2img"),
    ],
)
def test_hub_round_trip(tmp_path, model, task):
    """Save tiny pipelines with save_pretrained and load them through the `hub` weight source."""
    pipes = build_pipelines(model, task, "tiny", "cpu", "fp32")
    roles = get_model(model).task_roles[task]
    hub = {}
    for role in roles:
        key = "decoder" if role in ("decoder", "inpaint") else role
        directory = tmp_path / role
        pipes[key].save_pretrained(directory, safe_serialization=True)
        assert (directory / "model_index.json").exists()
        assert list(directory.rglob("*.safetensors"))
        hub[role] = str(directory)
    loaded = build_pipelines(model, task, "hub", "cpu", "fp32", hub)
    for key, pipe in loaded.items():
        original = pipes[key]
        for name, module in original.components.items():
            if isinstance(module, torch.nn.Module):
                a = next(iter(module.state_dict().values()))
                b = next(iter(loaded[key].components[name].state_dict().values()))
                assert torch.equal(a, b), f"{key}.{name} weights differ after the round-trip"
        assert type(pipe) is type(original)
    spec = _spec(model, task, weights="hub", hub=hub)
    seed = torch.Generator().manual_seed(0)
    images = run_workload(loaded, spec, seed, StageHooks())
    assert images and images[0].size == (64, 64)


def test_hub_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="is not a directory with a saved pipeline"):
        build_pipelines("kandinsky-3", "text2img", "hub", "cpu", "fp32", {"main": str(tmp_path / "nope")})


def test_unknown_model():
    with pytest.raises(ModelError, match=r"known: flux\.1-dev, .*kandinsky-2\.1, .*kandinsky-5-lite, sdxl-base"):
        get_model("sdxl-9")


def test_sdxl_refiner_takes_over_the_last_fifth_of_the_schedule():
    spec = _spec("sdxl-base", "text2img", steps=5, images_per_prompt=2, refiner=True)
    pipes = build_pipelines("sdxl-base", "text2img", "tiny", "cpu", "fp32", refiner=True)
    assert pipes["refiner"].vae is pipes["main"].vae  # shared, as in the diffusers recipe
    assert pipes["refiner"].text_encoder_2 is pipes["main"].text_encoder_2
    assert pipes["refiner"].text_encoder is None
    calls: list[str] = []

    def on_step(pipe, i, t, kwargs):
        calls.append(type(pipe).__name__)
        return kwargs

    images = run_workload(pipes, spec, torch.Generator().manual_seed(0), StageHooks(on_step_end=on_step))
    assert len(images) == 2 and images[0].size == (64, 64)
    # leading spacing, 5 steps: timesteps 801, 601, 401, 201 run on the base (>= 200), 1 on the refiner
    assert calls == ["StableDiffusionXLPipeline"] * 4 + ["StableDiffusionXLImg2ImgPipeline"]


def test_refiner_for_a_model_without_one_is_refused():
    with pytest.raises(ModelError, match="kandinsky-3 has no refiner"):
        build_pipelines("kandinsky-3", "text2img", "tiny", "cpu", "fp32", refiner=True)


def test_k5_image_editing_reads_the_source_image_through_the_vision_tower():
    spec = _spec("kandinsky-5-lite", "img2img", batch_size=2, images_per_prompt=2, guidance_scale=1.0)
    pipes = build_pipelines("kandinsky-5-lite", "img2img", "tiny", "cpu", "fp32")
    pipe = pipes["main"]
    assert type(pipe).__name__ == "Kandinsky5I2IPipeline"
    assert isinstance(pipe.tokenizer, Qwen2VLProcessor)
    assert pipe.tokenizer.image_token_id == pipe.text_encoder.config.image_token_id == 591  # 1000 - 421 + 12
    assert pipe.transformer.visual_embeddings.in_layer.in_features == (2 * 4 + 1) * 2 * 2  # noise, source, ones
    seen: list[int] = []
    vision = pipe.text_encoder.model.visual
    handle = vision.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[0]))
    try:
        images = run_workload(pipes, spec, torch.Generator().manual_seed(0), StageHooks())
    finally:
        handle.remove()
    assert len(images) == 4 and images[0].size == (1024, 1024)  # two per prompt, snapped to 1024x1024
    # 64x64 halved to 32x32, raised to the processor's 56x56 minimum (3,136 pixels): 4x4 patches per image,
    # one image per prompt copy; the cost model counts the same patches
    assert seen == [4 * 16]
    assert k5_image_tokens(64, 64) == (16, 4)

"""Outpainting on real tiny pipelines: the source placed on the canvas, the mask over the new border (and the
overlap), the inpainting pipeline called at the canvas size, and the original kept where the pipeline keeps it.

The pipelines keep the original in latent space: Kandinsky 2.2, SDXL and FLUX.1 blend the encoded source back
into the latents outside the mask at every step, so the latents they decode agree there whatever the prompt;
Kandinsky 2.1's inpaint pipeline reads the kept region only as conditioning and blends nothing back, so for it
the check is the mask its UNet is given. No pipeline keeps the pixels exactly: the decoder mixes across the
seam. Kept means outside the overlap and one latent cell more (the 2.x pipelines grow the mask by one cell).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from bench.models.build import PIPE_KEYS, build_pipelines
from bench.models.registry import MODELS, call_plan, get_model
from bench.spec import Outpaint, RunSpec, Workload
from bench.workloads import StageHooks, run_workload
from bench.workloads.calls import masked_inputs
from bench.workloads.inputs import outpaint_image, outpaint_mask, synthetic_image
from tests.factories import tiny_spec

OUTPAINTING = [m for m, spec in MODELS.items() if "outpaint" in spec.tasks]
BLENDS_NOTHING_BACK = ("kandinsky-2.1",)
# 64x64 -> 112x80: uneven margins, the bottom kept to the canvas edge, an overlap of 8 pixels (4 latent cells)
SOURCE = (64, 64)
OUTPAINT = Outpaint.around(*SOURCE, left=32, right=16, top=16, bottom=0, overlap=8)
PROMPTS = (["a red fox in deep snow"], ["a lighthouse on a cliff at night"])
# Two runs that paint the border differently but must keep the original alike. The 2.x pipelines encode the
# source with the MoVQ (no sampling), so another seed does; the tiny 2.2 prior's CLIP statistics are zero, so
# its embeddings ignore the prompt. SDXL and FLUX.1 sample the encoded source with the generator, so there
# the seed stays and the prompt changes.
VARY_SEED = ("kandinsky-2.1", "kandinsky-2.2")


def test_the_mask_covers_the_border_and_the_overlap_beside_each_extended_side():
    op = Outpaint.around(64, 48, left=32, right=16, top=8, bottom=0, overlap=4)
    mask = outpaint_mask(64, 48, op)
    assert mask.shape == (56, 112) and mask.dtype == np.float32  # (height, width) of the canvas
    expected = np.ones((56, 112), dtype=np.float32)
    expected[8 + 4 : 56, 32 + 4 : 32 + 64 - 4] = 0.0  # the source sits at (32, 8); no margin below: kept to the edge
    assert np.array_equal(mask, expected)
    without_overlap = outpaint_mask(64, 48, op.model_copy(update={"overlap": 0}))
    assert without_overlap[8:, 32:96].sum() == 0 and without_overlap.sum() == 112 * 56 - 64 * 48


def test_the_canvas_image_is_the_source_with_its_edges_carried_out():
    canvas = np.asarray(outpaint_image(64, 48, 3, Outpaint.around(64, 48, left=32, right=16, top=8, bottom=0)))
    assert canvas.shape == (56, 112, 3)
    assert np.array_equal(canvas[8:, 32:96], np.asarray(synthetic_image(64, 48, 3)))
    assert np.array_equal(canvas[8:, :32], np.repeat(canvas[8:, 32:33], 32, axis=1))  # the left border
    assert np.array_equal(canvas[:8], np.repeat(canvas[8:9], 8, axis=0))  # the top border


def test_inpainting_keeps_its_inputs_at_the_source_size():
    image, mask = masked_inputs(tiny_spec(task="inpaint"))
    assert (image.size, mask.shape) == ((64, 64), (64, 64))
    image, mask = masked_inputs(tiny_spec(task="outpaint", outpaint=OUTPAINT))
    assert (image.size, mask.shape) == ((112, 80), (80, 112))


def _spec(model: str) -> RunSpec:
    return tiny_spec(model=model, task="outpaint", guidance_scale=get_model(model).default_guidance, outpaint=OUTPAINT)


def _record_inputs(pipes: dict[str, Any], model: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """What the decoder decodes and what a UNet is given (its sample), call by call."""
    role = get_model(model).role_for("outpaint")[-1]
    pipe = pipes[PIPE_KEYS.get(role, role)]
    decoded: list[torch.Tensor] = []
    denoised: list[torch.Tensor] = []
    vae = pipe.components.get("vae") or pipe.components["movq"]
    decode = vae.decode

    def recording_decode(latents: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        decoded.append(latents.detach().clone())
        return decode(latents, *args, **kwargs)

    vae.decode = recording_decode
    if "unet" in pipe.components:  # the 2.x pipelines pass the input as ``sample=``, SDXL as the first argument
        pipe.unet.register_forward_pre_hook(
            lambda m, a, k: denoised.append(k.get("sample", a and a[0])), with_kwargs=True
        )
    return decoded, denoised


def _kept(op: Outpaint, cell: int, lat_hw: tuple[int, int]) -> tuple[slice, slice]:
    """Latent rows and columns of the original outside the overlap and one more cell, on extended sides only."""

    def span(start: int, size: int, before: int, after: int, limit: int) -> slice:
        lo = start + (op.overlap if before else 0)
        hi = start + size - (op.overlap if after else 0)
        return slice(-(-lo // cell) + (1 if before else 0), min(hi // cell - (1 if after else 0), limit))

    width, height = SOURCE
    return span(op.top, height, op.top, op.bottom, lat_hw[0]), span(op.left, width, op.left, op.right, lat_hw[1])


def _border(op: Outpaint, cell: int, lat_hw: tuple[int, int]) -> torch.Tensor:
    """Latent cells wholly in the new border (away from the source by one cell)."""
    border = torch.ones(lat_hw, dtype=torch.bool)
    width, height = SOURCE
    rows = slice(max(op.top // cell - 1, 0), -(-(op.top + height) // cell) + 1)
    cols = slice(max(op.left // cell - 1, 0), -(-(op.left + width) // cell) + 1)
    border[rows, cols] = False
    return border


@pytest.mark.parametrize("model", OUTPAINTING)
def test_a_tiny_outpaint_renders_the_canvas_and_keeps_the_original(model):
    spec = _spec(model)
    plan = call_plan(Workload.from_spec(spec))
    pipes = build_pipelines(model, "outpaint", "tiny", "cpu", "fp32")
    decoded, denoised = _record_inputs(pipes, model)
    runs = [
        run_workload(pipes, spec, torch.Generator().manual_seed(seed), StageHooks(), prompts=prompts)
        for seed, prompts in zip((0, 1) if model in VARY_SEED else (0, 0), PROMPTS, strict=True)
    ]
    for images in runs:
        assert [image.size for image in images] == [plan.size] == [spec.canvas] == [(112, 80)]
    first, second = decoded
    lat_hw = (first.shape[-2], first.shape[-1])
    cell = spec.canvas[0] // lat_hw[1]
    assert lat_hw == (spec.canvas[1] // cell, spec.canvas[0] // cell)
    kept = _kept(OUTPAINT, cell, lat_hw)
    border = _border(OUTPAINT, cell, lat_hw)
    assert not torch.allclose(first[..., border], second[..., border])  # the new border is painted
    if model in BLENDS_NOTHING_BACK:
        assert not torch.equal(first[..., kept[0], kept[1]], second[..., kept[0], kept[1]])
    else:
        assert torch.equal(first[..., kept[0], kept[1]], second[..., kept[0], kept[1]])
    if model.startswith("kandinsky-2"):  # the UNet reads latents, masked image and mask (1 = keep) side by side
        mask = denoised[0][:, -1]
        assert mask.shape[-2:] == lat_hw
        assert torch.all(mask[:, kept[0], kept[1]] == 1) and torch.all(mask[:, border] == 0)


def test_kandinsky_2_2_keeps_the_encoded_source_in_the_latents_it_decodes():
    spec = _spec("kandinsky-2.2")
    pipes = build_pipelines("kandinsky-2.2", "outpaint", "tiny", "cpu", "fp32")
    decoded, _ = _record_inputs(pipes, "kandinsky-2.2")
    run_workload(pipes, spec, torch.Generator().manual_seed(0), StageHooks())
    image, _ = masked_inputs(spec)
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    with torch.no_grad():
        source = pipes["decoder"].movq.encode(pixels)["latents"]
    (latents,) = decoded
    rows, cols = _kept(OUTPAINT, spec.canvas[0] // latents.shape[-1], (latents.shape[-2], latents.shape[-1]))
    # the same MoVQ encode outside the pipeline: equal up to float rounding of the convolutions
    torch.testing.assert_close(latents[..., rows, cols], source[..., rows, cols], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(latents, source, rtol=1e-3, atol=1e-3)  # the border is not the source's

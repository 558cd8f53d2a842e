"""Example performance tests with kandinsky-bench's pytest plugin (copy into your own test suite).

The ``kbench`` fixture comes from the plugin that installing kandinsky-bench registers; it wraps
pytest-benchmark's ``benchmark`` fixture, so the usual options work::

    pytest docs/examples/test_kandinsky_perf.py --benchmark-autosave              # store a run
    pytest docs/examples/test_kandinsky_perf.py --benchmark-compare \\
        --benchmark-compare-fail=median:5%                                        # fail on a 5% slower median
    pytest ... --kbench-usd-per-hour=2.49                                         # add $/1000 images

Peak RSS and VRAM, energy per image and $/1000 images land in each benchmark's ``extra_info``.
(This project's own pytest configuration passes ``--benchmark-disable``; add ``--benchmark-enable`` when
running this file from the repository root.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]  # adjust: where your scenario files live
PROMPT = "a red fox in a snowy forest, watercolor"


def test_smoke_scenario_on_cpu(kbench):
    """A scenario run exactly as `kbench run` does it (a fresh child process), tiny weights on the CPU."""
    record = kbench.scenario(REPO / "scenarios" / "smoke.yaml", "kandinsky-2.2|text2img|64x64|s3|b1x1|*")
    assert record.ok


def test_ci_scenario_k22(kbench):
    """One run of the CI set (random full-size weights: no download, real compute and memory)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    kbench.scenario(REPO / "scenarios" / "ci.yaml", "k22-768")


@pytest.fixture(scope="module")
def k22_pipeline():
    """Kandinsky 2.2 (prior + decoder) from the Hub in fp16 on the GPU, loaded once per module."""
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pipe = diffusers.AutoPipelineForText2Image.from_pretrained(
        "kandinsky-community/kandinsky-2-2-decoder", torch_dtype=torch.float16
    ).to("cuda")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("steps", [30])
def test_k22_pipeline_call(kbench, k22_pipeline, steps):
    """Your own pipeline call: 2 warmup calls, then 10 timed rounds of one 768x768 image each."""
    import torch

    generator = torch.Generator("cuda").manual_seed(0)

    def generate():
        return k22_pipeline(prompt=PROMPT, height=768, width=768, num_inference_steps=steps, generator=generator).images

    images = kbench.call(generate, rounds=10, warmup_rounds=2, images_per_call=1, device="cuda")
    assert len(images) == 1

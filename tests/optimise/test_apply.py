"""Each axis really changes the pipeline (backend, processors, memory format, flags, weight types) or is
skipped with its reason; checked on real tiny pipelines, not on labels."""

from __future__ import annotations

import pytest
import torch

from bench.measure.child import execute
from bench.models.build import build_pipelines
from bench.optimise.apply import apply_optimisations
from bench.optimise.parts import NotApplicable
from bench.optimise.static import static_skip_reason
from bench.spec import Optimisation
from tests.factories import tiny_spec
from tests.optimise.conftest import FLUX


@pytest.fixture
def flux_pipes():
    return build_pipelines("flux.1-schnell", "text2img", "tiny", "cpu", "fp32")


def _spec(**opt):
    return tiny_spec(**FLUX, optimise=Optimisation(**opt))


def test_sdpa_backend_is_restricted_inside_the_call(flux_pipes):
    tuner = apply_optimisations(flux_pipes, _spec(attention="sdpa-math"))
    seen = []
    transformer = flux_pipes["main"].transformer
    handle = transformer.register_forward_pre_hook(
        lambda *_: seen.append((torch.backends.cuda.math_sdp_enabled(), torch.backends.cuda.flash_sdp_enabled()))
    )
    with tuner.call_context():
        flux_pipes["main"](prompt="a", height=64, width=64, num_inference_steps=1, guidance_scale=0.0)
    handle.remove()
    assert seen and all(s == (True, False) for s in seen)  # math only, flash off, while the denoiser ran
    assert torch.backends.cuda.flash_sdp_enabled()  # and restored after the call


def test_the_record_names_the_backend_seen_in_the_call(sweep):
    assert sweep.records["sdpa-math"].optimise.sdpa_backends == ["MATH"]
    assert sweep.records["sdpa-flash"].optimise.sdpa_backends == ["FLASH_ATTENTION"]


def test_layout_tiling_slicing_and_quantization_change_the_modules(flux_pipes):
    spec = _spec(channels_last=True, vae_tiling=True, vae_slicing=True, quantization="int8-weight-only")
    tuner = apply_optimisations(flux_pipes, spec)
    pipe = flux_pipes["main"]
    convs = [m.weight for m in pipe.vae.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not all(w.is_contiguous() for w in convs)  # really NHWC, not a 1x1 coincidence
    assert pipe.vae.use_tiling and pipe.vae.use_slicing
    linear = next(m for m in pipe.transformer.modules() if isinstance(m, torch.nn.Linear))
    assert type(linear.weight).__name__ == "Int8Tensor"
    assert any("Int8WeightOnlyConfig" in a for a in tuner.applied)


@pytest.mark.parametrize("kind", ["first_block", "faster_cache", "pab"])
def test_cache_hooks_are_registered(flux_pipes, kind):
    transformer = flux_pipes["main"].transformer
    assert not transformer.is_cache_enabled
    tuner = apply_optimisations(flux_pipes, _spec(cache=kind, cache_threshold=0.3, cache_skip_range=3))
    assert transformer.is_cache_enabled
    assert tuner.applied[0].startswith(f"cache {kind}: transformer.enable_cache(")


def test_tf32_switches_the_matmul_precision_and_restores_it():
    from bench.optimise.layout import tf32

    before = torch.backends.cuda.matmul.fp32_precision
    _, restore = tf32()
    assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    restore()
    assert torch.backends.cuda.matmul.fp32_precision == before


def test_sliced_attention_replaces_the_unet_processors():
    pipes = build_pipelines("kandinsky-2.2", "text2img", "tiny", "cpu", "fp32")
    unet = pipes["decoder"].unet
    assert not any("Sliced" in type(p).__name__ for p in unet.attn_processors.values())
    apply_optimisations(pipes, tiny_spec(optimise=Optimisation(attention="sliced")))
    assert all("Sliced" in type(p).__name__ for p in unet.attn_processors.values())


def test_sliced_attention_on_flux_is_not_applicable(flux_pipes):
    with pytest.raises(NotApplicable, match="no sliced attention processor"):
        apply_optimisations(flux_pipes, _spec(attention="sliced"))


def test_regional_compile_needs_repeated_blocks():
    pipes = build_pipelines("kandinsky-3", "text2img", "tiny", "cpu", "fp32")
    spec = tiny_spec(model="kandinsky-3", guidance_scale=3.0, optimise=Optimisation(compile="regional"))
    with pytest.raises(NotApplicable, match="no repeated blocks"):
        apply_optimisations(pipes, spec)


@pytest.mark.parametrize(
    ("opt", "needle"),
    [
        ({"tf32": True}, "does not apply on cpu"),
        ({"quantization": "fp8"}, "compute capability 8.9"),
        ({"attention": "xformers"}, "xformers"),
        ({"compile": "max-autotune"}, "GPU kernels"),
    ],
)
def test_gpu_only_cells_are_skipped_before_loading(opt, needle):
    assert needle in (static_skip_reason(_spec(**opt)) or "")


def test_cache_on_a_unet_model_is_skipped_statically():
    reason = static_skip_reason(tiny_spec(optimise=Optimisation(cache="pab")))
    assert reason and "UNet" in reason


def test_skips_are_records_with_reasons(sweep):
    efficient = sweep.records["sdpa-efficient"]  # decided in the child: torch has no such CPU kernel
    assert efficient.status == "skipped" and "sdpa-efficient" in (efficient.reason or "")
    tf32_cell = sweep.records["tf32"]
    assert tf32_cell.status == "skipped" and "cpu" in (tf32_cell.reason or "")
    record = execute(tiny_spec(**FLUX, optimise=Optimisation(attention="sliced")))
    assert record.status == "skipped" and "sliced" in (record.reason or "")

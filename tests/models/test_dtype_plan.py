"""Random and tiny builds carry the dtype plan from_pretrained gives the same classes, in every dtype."""

from __future__ import annotations

import pytest
import torch

from bench.models.build import PIPE_KEYS, build_pipelines, build_role_components, torch_dtype
from bench.models.dtype_plan import apply_dtype_plan, dtype_map, kept_in_fp32
from bench.models.registry import MODELS
from bench.spec import DTYPES

# one task per pipeline role, so every role of every model is built once
ROLE_TASKS = sorted(
    {
        (m, next(t for t in spec.tasks if role in spec.task_roles[t]))
        for m, spec in MODELS.items()
        for role in spec.roles
        if role != "refiner"
    }
)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("model", "task"), ROLE_TASKS)
def test_tiny_build_has_the_dtype_map_of_save_and_from_pretrained(tmp_path, model, task, dtype):
    pipes = build_pipelines(model, task, "tiny", "cpu", dtype)
    for key, pipe in pipes.items():
        directory = tmp_path / key
        pipe.save_pretrained(directory, safe_serialization=True)
        for name, module in pipe.components.items():
            if isinstance(module, torch.nn.Module):  # each component through its own loader, as the pipeline does
                loaded = type(module).from_pretrained(directory / name, torch_dtype=torch_dtype(dtype))
                built, real = dtype_map(module), dtype_map(loaded)
                assert built == real, f"{model} {key}.{name} in {dtype}: {_diff(built, real)}"


def _diff(built: dict[str, str], real: dict[str, str]) -> str:
    names = [n for n in real if built.get(n) != real[n]]
    return ", ".join(f"{n}: built {built.get(n)} real {real[n]}" for n in names[:5])


def _fp32_elements(model: str, role: str, dtype: str) -> dict[str, int]:
    built = build_role_components(model, role, "random", "meta", torch_dtype(dtype))
    return {
        name: sum(p.numel() for p in module.parameters() if p.dtype == torch.float32)
        for name, module in built.items()
        if isinstance(module, torch.nn.Module)
    }


def test_full_size_flan_ul2_keeps_its_wo_layers_in_fp32_for_fp16_only():
    """Kandinsky 3's FLAN-UL2 encoder: 32 layers of wo, 16384 x 4096 each (2.15 B parameters), fp32 under fp16."""
    fp16 = _fp32_elements("kandinsky-3", "main", "fp16")
    assert fp16["text_encoder"] == 32 * 16384 * 4096
    assert _fp32_elements("kandinsky-3", "main", "bf16")["text_encoder"] == 0  # not strict: bf16 keeps bf16


def test_full_size_kandinsky_5_keeps_modulation_and_time_embeddings_in_fp32_in_every_half_dtype():
    fp16, bf16 = _fp32_elements("kandinsky-5-lite", "main", "fp16"), _fp32_elements("kandinsky-5-lite", "main", "bf16")
    assert fp16["transformer"] == bf16["transformer"] > 0.5e9  # diffusers keeps them for any dtype
    assert bf16["text_encoder"] == 0 and bf16["vae"] == 0


def test_full_size_meta_build_follows_the_plan_in_every_dtype():
    for dtype in DTYPES:
        for name, module in build_role_components("flux.1-dev", "main", "random", "meta", torch_dtype(dtype)).items():
            if not isinstance(module, torch.nn.Module):
                continue
            keep = kept_in_fp32(module, torch_dtype(dtype))
            for param_name, param in module.named_parameters():
                want = torch.float32 if keep(param_name) else torch_dtype(dtype)
                assert param.dtype == want, f"{name}.{param_name} in {dtype}"


def test_a_config_torch_dtype_never_overrides_the_scenario_dtype():
    """The shipped 2.2 prior configs say float16; a bf16 build is bf16 throughout (it used to mix the two)."""
    built = build_role_components("kandinsky-2.2", "prior", "tiny", "cpu", torch.bfloat16)
    dtypes = {d for m in built.values() if isinstance(m, torch.nn.Module) for d in dtype_map(m).values()}
    assert dtypes == {"bfloat16"}


def test_apply_dtype_plan_upcasts_only_the_declared_modules():
    from transformers import T5Config, T5EncoderModel

    model = T5EncoderModel(T5Config(vocab_size=64, d_model=8, d_ff=16, num_layers=1, num_heads=2, d_kv=4))
    kept = apply_dtype_plan(model, torch.float16)
    dtypes = dtype_map(model)
    assert kept == 16 * 8 and dtypes["encoder.block.0.layer.1.DenseReluDense.wo.weight"] == "float32"
    assert dtypes["encoder.block.0.layer.1.DenseReluDense.wi.weight"] == "float16"


def test_pipe_keys_cover_every_role():
    assert set(PIPE_KEYS) <= {r for spec in MODELS.values() for r in spec.roles}

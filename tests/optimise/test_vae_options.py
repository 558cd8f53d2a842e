"""VAE tiling and slicing where the autoencoder has none: ``skipped`` with the reason, decided before loading.

Kandinsky 2.2 and 3 decode with a MoVQ (diffusers' ``VQModel``), whose ``enable_tiling()`` raises
``NotImplementedError``: a sweep recorded every such cell as an ``error``. The registry names the class, so the
sweep skips the cell before a child loads anything; the child still turns the library's refusal into a skip for
an autoencoder the static table does not know. Checked on real tiny pipelines against the installed diffusers.
"""

from __future__ import annotations

import pytest

from bench.measure.child import execute
from bench.measure.runner import static_skip_reason as sweep_skip_reason
from bench.models.build import build_pipelines
from bench.optimise.layout import vae_option
from bench.optimise.parts import NotApplicable, autoencoders
from bench.optimise.static import VAE_OPTION_MISSING, autoencoder_classes, static_skip_reason
from bench.spec import Optimisation
from tests.factories import tiny_spec
from tests.optimise.conftest import FLUX

K3 = {"model": "kandinsky-3", "guidance_scale": 3.0}


@pytest.fixture(scope="module")
def k22_pipes():
    return build_pipelines("kandinsky-2.2", "text2img", "tiny", "cpu", "fp32")


@pytest.mark.parametrize("option", ["vae_tiling", "vae_slicing"])
@pytest.mark.parametrize("model", [{}, K3])  # kandinsky-2.2 (the default of tiny_spec) and kandinsky-3
def test_a_movq_model_is_skipped_before_loading(model, option):
    spec = tiny_spec(**model, optimise=Optimisation(**{option: True}))
    reason = static_skip_reason(spec)
    decoding = "tiled" if option == "vae_tiling" else "sliced"
    assert reason == f"{option}: the movq of {spec.model} is a VQModel, which has no {decoding} decoding in diffusers"
    assert sweep_skip_reason(spec) == reason  # the sweep's check before a child starts


def test_an_autoencoder_kl_model_keeps_both_options():
    assert static_skip_reason(tiny_spec(**FLUX, optimise=Optimisation(vae_tiling=True, vae_slicing=True))) is None


def test_the_static_table_matches_the_installed_diffusers(k22_pipes):
    """Every class the table names refuses the option in diffusers; the other registry autoencoders take it."""
    flux = build_pipelines("flux.1-schnell", "text2img", "tiny", "cpu", "fp32")
    modules = {type(m).__name__: m for pipes in (k22_pipes, flux) for _, m in autoencoders(pipes)}
    assert set(modules) == {"VQModel", "AutoencoderKL"}
    assert {autoencoder_classes("kandinsky-2.2")["movq"], autoencoder_classes("flux.1-schnell")["vae"]} == set(modules)
    for name, module in modules.items():
        for option, method in (("vae_tiling", "enable_tiling"), ("vae_slicing", "enable_slicing")):
            if option in VAE_OPTION_MISSING.get(name, frozenset()):
                with pytest.raises(NotImplementedError):
                    getattr(module, method)()
            else:
                getattr(module, method)()


def test_the_child_turns_the_library_refusal_into_a_skip(k22_pipes):
    """An autoencoder the table does not know: the refusal after loading is a skip too, not an error."""
    with pytest.raises(NotApplicable, match="vae_tiling: movq VQModel has no tiled decoding in diffusers"):
        vae_option(k22_pipes, "vae_tiling")


@pytest.mark.parametrize("option", ["vae_tiling", "vae_slicing"])
def test_the_run_is_recorded_skipped_with_the_reason(option):
    record = execute(tiny_spec(prior_steps=2, optimise=Optimisation(**{option: True})))
    assert record.status == "skipped" and record.error is None
    assert record.reason is not None and record.reason.startswith(f"{option}: the movq of kandinsky-2.2 is a VQModel")

"""Why a run's speed settings cannot apply, decided before anything is loaded (no torch import)."""

from __future__ import annotations

import importlib.util

from bench.models.registry import get_model
from bench.optimise.parts import AUTOENCODER_ATTRS
from bench.spec import RunSpec


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def denoiser_kinds(model_id: str) -> set[str]:
    """The denoiser attributes (``unet``, ``transformer``) of the model's pipelines, from the registry."""
    model = get_model(model_id)
    return {c.name for role in model.roles.values() for c in role.components if c.name in ("unet", "transformer")}


# Autoencoder classes that have no tiled or sliced decoding in diffusers, per option: their ``enable_tiling()`` /
# ``enable_slicing()`` (diffusers' ``AutoencoderMixin``) raise NotImplementedError, as the class keeps no
# ``use_tiling`` / ``use_slicing`` flag (older diffusers lack the methods altogether). VQModel is the MoVQ of
# Kandinsky 2.x and 3. Checked against the installed diffusers by the tests; a class missing here is caught in the
# child after loading instead (:func:`bench.optimise.layout.vae_option`).
VAE_OPTION_MISSING: dict[str, frozenset[str]] = {"VQModel": frozenset({"vae_tiling", "vae_slicing"})}
VAE_DECODING = {"vae_tiling": "tiled", "vae_slicing": "sliced"}


def autoencoder_classes(model_id: str) -> dict[str, str]:
    """The autoencoders (``vae``, ``movq``) of the model's pipelines and their class names, from the registry."""
    model = get_model(model_id)
    return {
        c.name: c.class_name for role in model.roles.values() for c in role.components if c.name in AUTOENCODER_ATTRS
    }


def vae_option_skip_reason(spec: RunSpec) -> str | None:
    """Why ``vae_tiling`` / ``vae_slicing`` cannot apply to this model's autoencoder, known from the registry."""
    for option, decoding in VAE_DECODING.items():
        if not getattr(spec.optimise, option):
            continue
        for attr, cls in autoencoder_classes(spec.model).items():
            if option in VAE_OPTION_MISSING.get(cls, frozenset()):
                return f"{option}: the {attr} of {spec.model} is a {cls}, which has no {decoding} decoding in diffusers"
    return None


def static_skip_reason(spec: RunSpec) -> str | None:
    """A reason the settings cannot apply to this model, device or installed library; None if they may."""
    opt = spec.optimise
    cuda = spec.device.startswith("cuda")
    if opt.attention == "xformers" and not installed("xformers"):
        return "attention xformers: the xformers package is not installed"
    if opt.attention == "xformers" and not cuda:
        return "attention xformers: xformers kernels run on CUDA devices only, not on cpu"
    if opt.tf32 and not cuda:
        return "tf32: TensorFloat-32 is a matmul mode of NVIDIA GPUs (Ampere and later); it does not apply on cpu"
    if opt.quantization != "none" and not installed("torchao"):
        return f"quantization {opt.quantization}: torchao is not installed (pip install 'kandinsky-bench[optimise]')"
    if opt.quantization == "fp8" and not cuda:
        return "quantization fp8: torchao's float8 kernels need a CUDA GPU of compute capability 8.9 or later"
    if opt.compile == "max-autotune" and not cuda:
        return "compile max-autotune: tunes GPU kernels (Triton templates, CUDA graphs); use compile default on cpu"
    if opt.cache != "none" and "transformer" not in denoiser_kinds(spec.model):
        return (
            f"cache {opt.cache}: diffusers' cache hooks are for transformer denoisers;"
            f" {spec.model} denoises with a UNet"
        )
    if spec.memory == "sequential_cpu_offload" and (opt.compile != "none" or opt.quantization != "none"):
        return "memory sequential_cpu_offload: moves weights module by module; not with compile or quantization"
    return vae_option_skip_reason(spec)


__all__ = [
    "VAE_OPTION_MISSING",
    "autoencoder_classes",
    "denoiser_kinds",
    "installed",
    "static_skip_reason",
    "vae_option_skip_reason",
]

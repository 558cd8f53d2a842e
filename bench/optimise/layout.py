"""Memory-layout and numeric-mode axes: ``channels_last``, VAE tiling and slicing, TF32 matmuls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.optimise.parts import NotApplicable, autoencoders, class_name, denoisers


def channels_last(pipes: dict[str, Any]) -> str:
    """Convert the denoisers' and autoencoders' weights to channels-last (NHWC) memory format."""
    import torch

    names = []
    for attr, module in [*denoisers(pipes), *autoencoders(pipes)]:
        module.to(memory_format=torch.channels_last)
        names.append(attr)
    return f"channels_last: {', '.join(names)}.to(memory_format=torch.channels_last)"


def vae_option(pipes: dict[str, Any], option: str) -> str:
    """``enable_tiling``/``enable_slicing`` on every autoencoder; one that lacks it is not applicable.

    Most such cases are skipped before loading from the registry (:func:`bench.optimise.static.vae_option_skip_reason`);
    this catches an autoencoder class the static table does not know.
    """
    method = {"vae_tiling": "enable_tiling", "vae_slicing": "enable_slicing"}[option]
    found = autoencoders(pipes)
    if not found:
        raise NotApplicable(f"{option}: the pipelines have no VAE or MoVQ")
    decoding = "tiled" if option == "vae_tiling" else "sliced"
    for attr, module in found:
        try:  # diffusers' AutoencoderMixin has the method on every autoencoder and raises where it is not implemented
            getattr(module, method)()
        except (AttributeError, NotImplementedError):
            raise NotApplicable(
                f"{option}: {attr} {class_name(module)} has no {decoding} decoding in diffusers"
            ) from None
    return f"{option}: {', '.join(a for a, _ in found)}.{method}()"


def tf32() -> tuple[str, Callable[[], None]]:
    """Allow TF32 in cuBLAS matmuls and cuDNN convolutions (torch's fp32_precision API); return the undo."""
    import torch

    matmul, conv = torch.backends.cuda.matmul, getattr(torch.backends.cudnn, "conv")  # noqa: B009  (untyped)
    previous = (matmul.fp32_precision, conv.fp32_precision)
    matmul.fp32_precision = "tf32"
    conv.fp32_precision = "tf32"

    def restore() -> None:
        matmul.fp32_precision, conv.fp32_precision = previous

    return "tf32: torch.backends.cuda.matmul / cudnn.conv fp32_precision = 'tf32'", restore


__all__ = ["channels_last", "tf32", "vae_option"]

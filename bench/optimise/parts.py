"""Where the settings act in a run's pipelines: the denoisers and the autoencoders, each module once."""

from __future__ import annotations

from typing import Any

DENOISER_ATTRS = ("unet", "transformer")
AUTOENCODER_ATTRS = ("vae", "movq")


class NotApplicable(Exception):
    """A setting that cannot apply to this model, device or library: the run is recorded ``skipped`` with this."""


def _unique(pipes: dict[str, Any], attrs: tuple[str, ...]) -> list[tuple[str, Any]]:
    seen: set[int] = set()
    found: list[tuple[str, Any]] = []
    for pipe in pipes.values():
        for attr in attrs:
            module = getattr(pipe, attr, None)
            if module is not None and id(module) not in seen:  # the refiner shares the base's VAE
                seen.add(id(module))
                found.append((attr, module))
    return found


def denoisers(pipes: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(attribute, module)`` of every denoiser (UNet or transformer) of the run's pipelines."""
    return _unique(pipes, DENOISER_ATTRS)


def autoencoders(pipes: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(attribute, module)`` of every VAE or MoVQ of the run's pipelines."""
    return _unique(pipes, AUTOENCODER_ATTRS)


def class_name(module: Any) -> str:
    return type(module).__name__


__all__ = ["AUTOENCODER_ATTRS", "DENOISER_ATTRS", "NotApplicable", "autoencoders", "class_name", "denoisers"]

"""The quantization axis: torchao's ``quantize_`` on the denoisers (weights int8, or float8 on recent GPUs)."""

from __future__ import annotations

from typing import Any

from bench.optimise.parts import NotApplicable, denoisers

FP8_CAPABILITY = (8, 9)  # Ada / Hopper: the first NVIDIA GPUs with float8 tensor cores


def quantize(pipes: dict[str, Any], kind: str, device: str) -> str:
    """Quantize every denoiser in place; float8 needs a CUDA GPU of compute capability 8.9 or later."""
    import torch
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig, quantize_

    if kind == "fp8":
        capability = torch.cuda.get_device_capability(device) if device.startswith("cuda") else None
        if capability is None or capability < FP8_CAPABILITY:
            raise NotApplicable(f"quantization fp8: needs compute capability 8.9 or later, this GPU has {capability}")
        config: Any = Float8WeightOnlyConfig()
    else:
        config = Int8WeightOnlyConfig()
    names = []
    for attr, module in denoisers(pipes):
        quantize_(module, config)
        names.append(attr)
    return f"quantization {kind}: torchao quantize_({', '.join(names)}, {type(config).__name__}())"


__all__ = ["quantize"]

"""The attention axis: SDPA backends through ``torch.nn.attention.sdpa_kernel``, xformers, attention slicing.

A backend is probed on a small SDPA call of the run's device and dtype first, so a kernel torch lacks there
(the memory-efficient kernel on the CPU, flash attention in fp32 on a GPU) is a skip with torch's reason
rather than a failed run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from bench.optimise.parts import NotApplicable, class_name, denoisers

SDPA_BACKENDS = {"sdpa-math": "MATH", "sdpa-flash": "FLASH_ATTENTION", "sdpa-efficient": "EFFICIENT_ATTENTION"}
PROBE_SHAPE = (1, 2, 16, 64)  # batch, heads, tokens, head dim: every kernel's supported range


def backend(name: str) -> Any:
    from torch.nn.attention import SDPBackend

    return getattr(SDPBackend, SDPA_BACKENDS[name])


def probe(name: str, device: str, dtype: Any) -> None:
    """Run one SDPA call restricted to the backend; raise :class:`NotApplicable` with torch's reason if none runs."""
    import torch
    from torch.nn.attention import sdpa_kernel

    q = torch.randn(PROBE_SHAPE, device=device, dtype=dtype)
    try:
        with sdpa_kernel(backend(name)):
            torch.nn.functional.scaled_dot_product_attention(q, q, q)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise NotApplicable(f"attention {name}: torch has no such SDPA kernel for {device} {dtype}: {first}") from None


@contextlib.contextmanager
def kernel_context(name: str) -> Iterator[None]:
    """Restrict SDPA to the axis' backend for the duration of a pipeline call."""
    from torch.nn.attention import sdpa_kernel

    with sdpa_kernel(backend(name)):
        yield


def enabled_backends() -> list[str]:
    """The SDPA backends torch allows right now (read inside a call, it is what the call's attention could use)."""
    import torch

    flags = {
        "MATH": torch.backends.cuda.math_sdp_enabled(),
        "FLASH_ATTENTION": torch.backends.cuda.flash_sdp_enabled(),
        "EFFICIENT_ATTENTION": torch.backends.cuda.mem_efficient_sdp_enabled(),
        "CUDNN_ATTENTION": torch.backends.cuda.cudnn_sdp_enabled(),
    }
    return [name for name, on in flags.items() if on]


def slice_attention(pipes: dict[str, Any]) -> str:
    """``enable_attention_slicing`` on every pipeline; a denoiser left without a sliced processor is not applicable."""
    for pipe in pipes.values():
        pipe.enable_attention_slicing()
    sliced = 0
    for attr, module in denoisers(pipes):
        processors = getattr(module, "attn_processors", {})
        count = sum("Sliced" in type(p).__name__ for p in processors.values())
        if not count:
            raise NotApplicable(
                f"attention sliced: {attr} {class_name(module)} has no sliced attention processor in diffusers"
            )
        sliced += count
    return f"attention sliced: enable_attention_slicing(), {sliced} sliced attention processors"


def use_xformers(pipes: dict[str, Any]) -> str:
    for pipe in pipes.values():
        pipe.enable_xformers_memory_efficient_attention()
    return "attention xformers: enable_xformers_memory_efficient_attention()"


__all__ = ["SDPA_BACKENDS", "enabled_backends", "kernel_context", "probe", "slice_attention", "use_xformers"]

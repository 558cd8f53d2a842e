"""The compile axis: ``torch.compile`` of the denoiser (optionally the VAE decoder), and dynamo's counters.

``default`` and ``max-autotune`` compile the whole denoiser's ``forward`` (``torch.compile``); ``regional``
compiles only the repeated blocks diffusers declares (``compile_repeated_blocks``): one block's graph serves
every copy, so compiling takes a fraction of the time. Compilation happens in the first call; the child times
that call apart and counts the frames compiled later (recompilations).
"""

from __future__ import annotations

from typing import Any

from bench.optimise.parts import NotApplicable, autoencoders, class_name, denoisers


def compiled_frames() -> int:
    """Graphs dynamo has compiled in this process so far (each recompilation adds one).

    ``counters["stats"]["unique_graphs"]`` counts every graph handed to the backend, whole-graph (regional,
    ``fullgraph=True``) compiles included, which ``counters["frames"]`` does not.
    """
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def compile_models(pipes: dict[str, Any], mode: str, *, vae: bool) -> list[str]:
    """Compile the denoisers (and with ``vae`` the autoencoders' decoders); return what was done."""
    done = []
    for attr, module in denoisers(pipes):
        if mode == "regional":
            blocks = getattr(type(module), "_repeated_blocks", None) or []
            if not blocks:
                raise NotApplicable(
                    f"compile regional: {attr} {class_name(module)} declares no repeated blocks for"
                    " compile_repeated_blocks (use compile default)"
                )
            module.compile_repeated_blocks(fullgraph=True)
            done.append(f"compile regional: {attr}.compile_repeated_blocks() over {', '.join(blocks)}")
        else:
            _compile_forward(module, mode)
            done.append(f"compile {mode}: {attr}.forward = torch.compile({attr}.forward, mode={_mode(mode)!r})")
    if vae:
        for attr, module in autoencoders(pipes):
            _compile_forward(module.decoder, mode)
            done.append(f"compile {mode}: {attr}.decoder.forward = torch.compile(..., mode={_mode(mode)!r})")
    return done


def _mode(mode: str) -> str | None:
    return None if mode in ("default", "regional") else mode


def _compile_forward(module: Any, mode: str) -> None:
    """Compile the module's ``forward``, not its ``__call__``: the stage-timing hooks stay outside the graph.

    ``nn.Module.compile`` would trace the forward hooks too, and a host clock read in a hook is a graph break.
    """
    import torch

    module.forward = torch.compile(module.forward, mode=_mode(mode))


__all__ = ["compile_models", "compiled_frames"]

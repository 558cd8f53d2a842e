"""What the child decides about a run before measuring it: whether this machine can run it, and the memory option.

Kept apart from :mod:`bench.measure.child` so the serving engine and the optimisation sweep apply the same rules.
"""

from __future__ import annotations

from typing import Any

from bench.spec import RunSpec


def environment_skip_reason(spec: RunSpec) -> str | None:
    """Why this machine cannot run the spec at all (decided in the child, where CUDA may be touched).

    The rules known without a device come first: a sweep skips those runs before starting a child, but a
    run handed to the child another way (``run_in_child``, an in-process ``execute``) must not measure CPU
    offload on the CPU either (a no-op that would pass for offload, or a crash inside accelerate).
    """
    from bench.measure.runner import static_skip_reason

    if reason := static_skip_reason(spec):
        return reason
    if spec.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return "CUDA device requested but torch.cuda.is_available() is False on this machine"
        index = int(spec.device.split(":")[1]) if ":" in spec.device else 0
        if index >= torch.cuda.device_count():
            return f"{spec.device} requested but only {torch.cuda.device_count()} CUDA device(s) are visible"
    if spec.dtype == "bf16" and spec.device.startswith("cuda"):
        import torch

        from bench.measure.device import bf16_skip_reason

        return bf16_skip_reason(torch, spec.device)  # the run's own device, by compute capability
    return None


def apply_memory_option(pipes: dict[str, Any], spec: RunSpec) -> None:
    """Apply the diffusers memory option to every pipeline of the run."""
    for pipe in pipes.values():
        if spec.memory == "model_cpu_offload":
            pipe.enable_model_cpu_offload(device=spec.device)
        elif spec.memory == "sequential_cpu_offload":
            pipe.enable_sequential_cpu_offload(device=spec.device)
        elif spec.memory == "attention_slicing":
            pipe.enable_attention_slicing()

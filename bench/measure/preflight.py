"""What the child decides about a run before measuring it: whether this machine can run it, and the memory option.

Kept apart from :mod:`bench.measure.child` so the serving engine and the optimisation sweep apply the same rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.spec import OFFLOAD_OPTIONS, RunSpec

if TYPE_CHECKING:
    from bench.models.hub import HubLoads


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

        from bench.measure.samplers.nvml import cuda_index

        if not torch.cuda.is_available():
            return "CUDA device requested but torch.cuda.is_available() is False on this machine"
        index = cuda_index(spec.device)
        if index >= torch.cuda.device_count():
            return f"{spec.device} requested but only {torch.cuda.device_count()} CUDA device(s) are visible"
    if spec.dtype == "bf16" and spec.device.startswith("cuda"):
        import torch

        from bench.measure.device import bf16_skip_reason

        return bf16_skip_reason(torch, spec.device)  # the run's own device, by compute capability
    return None


def build_run_pipelines(spec: RunSpec, loads: HubLoads | None = None) -> dict[str, Any]:
    """The run's pipelines with its memory option applied; with CPU offload they are built on the CPU and
    accelerate moves each module to the device when it runs."""
    from bench.models.build import build_pipelines

    device = "cpu" if spec.memory in OFFLOAD_OPTIONS else spec.device
    pipes = build_pipelines(
        spec.model, spec.task, spec.weights, device, spec.dtype, spec.hub, refiner=spec.refiner, loads=loads
    )
    apply_memory_option(pipes, spec)
    return pipes


def apply_memory_option(pipes: dict[str, Any], spec: RunSpec) -> None:
    """Apply the diffusers memory option to every pipeline of the run."""
    for pipe in pipes.values():
        if spec.memory == "model_cpu_offload":
            pipe.enable_model_cpu_offload(device=spec.device)
        elif spec.memory == "sequential_cpu_offload":
            pipe.enable_sequential_cpu_offload(device=spec.device)
        elif spec.memory == "attention_slicing":
            pipe.enable_attention_slicing()

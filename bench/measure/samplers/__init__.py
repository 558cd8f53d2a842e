"""Device samplers behind one interface, and the thread that polls them.

``open_samplers`` always returns a CPU sampler for the process tree and, for CUDA devices where NVML works, an
NVML sampler; anything missing (pynvml, driver, device) becomes a warning, never an exception.
"""

from __future__ import annotations

from typing import Any

from bench.measure.samplers.allocator import TorchAllocatorTracker
from bench.measure.samplers.base import DEFAULT_INTERVAL_S, MIB, DeviceSampler, Reading
from bench.measure.samplers.cpu import CpuSampler
from bench.measure.samplers.nvml import NVML_FIELDS, NvmlSampler, open_nvml_sampler, physical_gpu_index
from bench.measure.samplers.thread import SamplerThread


def open_samplers(device: str, pid: int, *, nvml_module: Any = None) -> tuple[list[DeviceSampler], list[str]]:
    """Samplers for a run on ``device`` ("cpu", "cuda", "cuda:N") by process ``pid``, plus warnings.

    Args:
        device: torch device string of the run.
        pid: the process to watch; its descendants are included.
        nvml_module: a ``pynvml`` stand-in (tests); by default ``pynvml`` is imported.
    """
    samplers: list[DeviceSampler] = [CpuSampler(pid)]
    warnings: list[str] = []
    if device.startswith("cuda"):
        gpu, warnings = open_nvml_sampler(device, pid, nvml_module=nvml_module)
        if gpu is not None:
            samplers.append(gpu)
    return samplers, warnings


__all__ = [
    "DEFAULT_INTERVAL_S",
    "MIB",
    "NVML_FIELDS",
    "CpuSampler",
    "DeviceSampler",
    "NvmlSampler",
    "Reading",
    "SamplerThread",
    "TorchAllocatorTracker",
    "open_samplers",
    "physical_gpu_index",
]

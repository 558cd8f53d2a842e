"""One GPU per run: the child sees exactly the GPU its spec names, as ``cuda:0``, in PCI bus order.

``torch.cuda.synchronize()`` without a device, allocator statistics and a stray context all default to GPU 0,
so a run asked for ``cuda:1`` is pinned instead of pointed: the parent starts the child with
``CUDA_VISIBLE_DEVICES`` naming that one GPU and ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (CUDA's default order is
"fastest first", which need not match ``nvidia-smi`` or NVML), and the child runs on ``cuda:0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.measure.samplers.nvml import cuda_index

PINNED_VARIABLE = "KBENCH_PINNED_DEVICE"  # set for the child: the device of the spec it was pinned to
BF16_MIN_CAPABILITY = (8, 0)  # Ampere: native bfloat16 tensor-core math (emulated, and slow, before)


def child_environment(device: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables that pin a child to the GPU of ``device`` (nothing for CPU runs).

    An existing ``CUDA_VISIBLE_DEVICES`` is honoured: ``cuda:N`` is its N-th entry, as CUDA would count.

    Raises:
        LookupError: ``cuda:N`` is not among the visible devices.
    """
    if not device.startswith("cuda"):
        return {}
    index = cuda_index(device)
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        entry = str(index)
    else:
        entries = [e.strip() for e in visible.split(",") if e.strip()]
        if index >= len(entries):
            raise LookupError(f"{device} is not visible with CUDA_VISIBLE_DEVICES={visible!r}")
        entry = entries[index]
    return {"CUDA_VISIBLE_DEVICES": entry, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", PINNED_VARIABLE: device}


def local_device(device: str, environ: Mapping[str, str]) -> str:
    """The device a pinned child uses for its spec's device (``cuda:0``); unpinned or CPU: unchanged."""
    if device.startswith("cuda") and environ.get(PINNED_VARIABLE) == device:
        return "cuda:0"
    return device


def bf16_skip_reason(torch: Any, device: str) -> str | None:
    """Why bf16 cannot run natively on ``device`` (compute capability below 8.0), else None."""
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    if (major, minor) < BF16_MIN_CAPABILITY:
        name = torch.cuda.get_device_name(torch.device(device))
        return (
            f"bf16 needs compute capability >= 8.0 for native bfloat16; {name} is {major}.{minor} "
            "(emulated bf16 would measure the emulation)"
        )
    return None

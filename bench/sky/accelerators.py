"""Catalog GPU ids (``bench/data/gpus.yaml``) to SkyPilot accelerator names.

SkyPilot names accelerators per its cloud catalogs (``sky show-gpus -a``; docs.skypilot.co, "GPUs and
Accelerators"): the common names ``A10, A10G, A100, A100-80GB, H100, H200, L4, L40S, T4, V100, V100-32GB`` are
listed on that page, ``A4000``/``A6000`` among its other GPUs; the GeForce and RTX names follow SkyPilot's RunPod
provisioner (``GPU_NAME_MAP`` in ``sky/provision/runpod/utils.py``: ``RTX3090``, ``RTX4090``, ``RTX6000-Ada``,
``RTXA5000``, ``H100`` = the PCIe card, ``H100-SXM``, ...). A name can mean different cards on different
clouds (RunPod's ``H100`` and ``A100-80GB`` are PCIe cards; on AWS, GCP and Lambda they are SXM), so every
record keeps the NVML name of the card it really ran on, and ``kbench sky collect`` says when that is not
the GPU a file was planned for. ``--accelerator ID=NAME`` overrides or adds a name.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import KbenchError


@dataclass(frozen=True)
class SkyAccelerator:
    """What a task's ``resources`` ask for: the accelerator name, and an ``infra`` where one cloud is meant."""

    name: str
    infra: str | None = None
    note: str | None = None


SKY_ACCELERATORS: dict[str, SkyAccelerator] = {
    "rtx3090": SkyAccelerator("RTX3090"),
    "rtx4070ti": SkyAccelerator("RTX4070Ti"),
    "rtx4080": SkyAccelerator("RTX4080"),
    "rtx4090": SkyAccelerator("RTX4090"),
    "rtx5090": SkyAccelerator("RTX5090"),
    "rtx-a4000": SkyAccelerator("A4000"),
    "rtx-a5000": SkyAccelerator("RTXA5000"),
    "rtx-a6000": SkyAccelerator("A6000"),
    "rtx6000-ada": SkyAccelerator("RTX6000-Ada"),
    "t4": SkyAccelerator("T4"),
    "l4": SkyAccelerator("L4"),
    "a10": SkyAccelerator("A10"),
    "a10g": SkyAccelerator("A10G"),
    "l40s": SkyAccelerator("L40S"),
    "v100-sxm2-32gb": SkyAccelerator("V100-32GB"),
    "v100-pcie-32gb": SkyAccelerator("V100-32GB", note="SkyPilot does not tell V100 32GB PCIe from SXM2"),
    "a100-40gb-pcie": SkyAccelerator("A100", note="A100 (40 GB) is an SXM card on AWS and GCP"),
    "a100-80gb-sxm": SkyAccelerator("A100-80GB", note="A100-80GB is a PCIe card on RunPod"),
    "h100-pcie": SkyAccelerator("H100", infra="runpod", note="H100 is the PCIe card on RunPod only"),
    "h100-sxm": SkyAccelerator("H100", note="H100 is the SXM card on AWS, GCP, Lambda; PCIe on RunPod"),
    "h200": SkyAccelerator("H200"),
    "b200": SkyAccelerator("B200"),
}


def parse_accelerator_overrides(items: list[str]) -> dict[str, SkyAccelerator]:
    """``--accelerator ID=NAME`` values as a mapping.

    Raises:
        KbenchError: a value not of the form ``ID=NAME``.
    """
    out: dict[str, SkyAccelerator] = {}
    for item in items:
        gpu, sep, name = item.partition("=")
        if not sep or not gpu.strip() or not name.strip() or any(c.isspace() for c in name.strip()):
            raise KbenchError(f"--accelerator: expected GPU_ID=SKYPILOT_NAME like rtx3060=RTX3060, got {item!r}")
        out[gpu.strip()] = SkyAccelerator(name.strip())
    return out


def sky_accelerator(gpu_id: str, overrides: dict[str, SkyAccelerator] | None = None) -> SkyAccelerator:
    """The SkyPilot accelerator for a catalog GPU.

    Raises:
        KbenchError: no SkyPilot name is known for it (give one with ``--accelerator``).
    """
    known = {**SKY_ACCELERATORS, **(overrides or {})}
    if gpu_id not in known:
        raise KbenchError(
            f"--gpu {gpu_id}: no SkyPilot accelerator name is known for it; pass --accelerator {gpu_id}=NAME "
            "(a name from `sky show-gpus -a`)"
        )
    return known[gpu_id]


__all__ = ["SKY_ACCELERATORS", "SkyAccelerator", "parse_accelerator_overrides", "sky_accelerator"]

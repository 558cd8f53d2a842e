"""Catalog GPU ids (``bench/data/gpus.yaml``) to SkyPilot accelerator names.

SkyPilot names accelerators per its cloud catalogs (``sky show-gpus -a``; docs.skypilot.co, "GPUs and
Accelerators"): the common names ``A10, A10G, A100, A100-80GB, H100, H200, L4, L40S, T4, V100, V100-32GB`` are
listed on that page, ``A4000``/``A6000`` among its other GPUs; the GeForce and RTX names follow SkyPilot's RunPod
provisioner (``GPU_NAME_MAP`` in ``sky/provision/runpod/utils.py``: ``RTX3090``, ``RTX4090``, ``RTX6000-Ada``,
``RTXA5000``, ``H100`` = the PCIe card, ``H100-SXM``, ...). A name can mean different cards on different
clouds (RunPod's ``H100`` and ``A100-80GB`` are PCIe cards; on AWS, GCP and Lambda they are SXM), so every
record keeps the NVML name of the card it really ran on, and ``kbench sky collect`` says when that is not
the GPU a file was planned for. ``--accelerator ID=NAME[:COUNT]`` overrides or adds a name, and may ask for
more than one GPU a machine.

A task's ``resources.accelerators`` is read by SkyPilot (``Resources._set_accelerators`` in ``sky/resources.py``)
as ``NAME`` (one accelerator) or ``NAME:COUNT``, splitting at ``:`` and taking ``COUNT`` as a positive number
(``A100:0.5``, a fraction of one GPU, is allowed); anything else is refused there, after the user has run
``sky launch``. ``--accelerator`` takes the same forms and refuses the rest before a task file is written:
a third part (``RTX4090:8:1``), a count that is not a positive number (``RTX4090:0``, ``RTX4090:x``), and a
memory size as the name (``80GB:1``, which SkyPilot reads as "any GPU with that much memory", so no one GPU
whose cost the plan could estimate).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from bench.errors import KbenchError, clip

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # the names `sky show-gpus -a` lists (no spaces, no ':')
COUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # a positive number as SkyPilot reads it, in plain decimal form
MEMORY_SIZE = re.compile(r"[0-9]+[GgMmTt][Bb]\+?")  # SkyPilot's "any GPU with this much memory" form
ALLOWED = (
    "expected GPU_ID=NAME or GPU_ID=NAME:COUNT (NAME as `sky show-gpus -a` lists it: letters, digits, '.', '_', "
    "'-'; COUNT a positive number such as 1, 8 or 0.5; no count means 1), like rtx4090=RTX4090:8"
)


@dataclass(frozen=True)
class SkyAccelerator:
    """What a task's ``resources`` ask for: the accelerator name and count, and an ``infra`` where one cloud
    is meant."""

    name: str
    infra: str | None = None
    note: str | None = None
    count: str = "1"  # as written in the task: a positive integer, or a decimal fraction (0.5)

    @property
    def resources(self) -> str:
        """The task's ``resources.accelerators`` value, ``NAME:COUNT``."""
        return f"{self.name}:{self.count}"

    @property
    def gpus(self) -> int:
        """How many GPUs the machine has, so how many are billed: a fraction of one still rents a whole one."""
        return max(1, math.ceil(Decimal(self.count)))


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


def parse_accelerator(text: str) -> SkyAccelerator:
    """``NAME`` or ``NAME:COUNT`` as SkyPilot reads ``resources.accelerators`` (see the module docstring).

    Why here: a form SkyPilot refuses (or reads as something else) would fail only after ``sky launch``.

    Raises:
        ValueError: a form SkyPilot refuses, or a memory size for a name; the message says which part is wrong.
    """
    name, sep, count = text.strip().partition(":")
    if MEMORY_SIZE.fullmatch(name):
        raise ValueError(f"{name} is a memory size, not an accelerator name")
    if not NAME.fullmatch(name):
        raise ValueError("no accelerator NAME" if not name else f"{clip(name, 80)} is not a NAME")
    if not sep:
        return SkyAccelerator(name)
    if ":" in count:
        raise ValueError("more than one ':'")
    if not COUNT.fullmatch(count) or Decimal(count) <= 0:
        raise ValueError("the COUNT is not a positive number")
    value = Decimal(count)
    shown = str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")
    return SkyAccelerator(name, count=shown)


def parse_accelerator_overrides(items: list[str]) -> dict[str, SkyAccelerator]:
    """``--accelerator ID=NAME[:COUNT]`` values as a mapping; a count given is kept, no count means 1.

    Raises:
        KbenchError: a value not of the form ``ID=NAME`` or ``ID=NAME:COUNT``; one line naming the option, the
            value and what is allowed.
    """
    out: dict[str, SkyAccelerator] = {}
    for item in items:
        gpu, sep, spec = item.partition("=")
        try:
            if not sep or not gpu.strip():
                raise ValueError("no GPU_ID=")
            out[gpu.strip()] = parse_accelerator(spec)
        except ValueError as exc:
            raise KbenchError(f"--accelerator {clip(item)}: {exc}; {ALLOWED}") from None
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


__all__ = [
    "SKY_ACCELERATORS",
    "SkyAccelerator",
    "parse_accelerator",
    "parse_accelerator_overrides",
    "sky_accelerator",
]

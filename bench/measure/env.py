"""Environment capture: the facts stored with every result, so comparisons can refuse or warn on a changed setup.

Every key in :data:`ENV_KEYS` is always present; a fact that cannot be known here is ``None``. Capture is cheap
(no CUDA context is created, torch is only read if already imported or the device is CUDA) and never raises
for a missing GPU, driver or package.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from bench import __version__
from bench.measure.provenance import GIT_KEYS, TORCH_SETTING_KEYS, git_facts, torch_settings
from bench.measure.samplers.base import MIB
from bench.measure.samplers.nvml import load_nvml, open_gpu, shutdown_nvml

if TYPE_CHECKING:
    from bench.spec import RunSpec

VERSIONED_PACKAGES = {
    "torch": "torch",
    "diffusers": "diffusers",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "numpy": "numpy",
}
GPU_KEYS = (
    "gpu_index",
    "gpu_name",
    "gpu_uuid",
    "gpu_memory_total_mb",
    "power_limit_w",
    "driver_version",
    "cuda_driver_version",
    "gpu_pci_bus_id",
    "persistence_mode",
    "pcie_gen",
    "pcie_width",
    "pcie_gen_max",
    "pcie_width_max",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "sm_clock_max_mhz",
    "app_sm_clock_mhz",
    "pcie_link",
)
SPEC_KEYS = ("dtype", "memory", "weights", "scenario_file", "scenario_sha256")
ENV_KEYS = (
    "host",
    "platform",
    "python",
    "cpu_model",
    "cpu_count",
    "ram_gb",
    *(f"{name}_version" for name in VERSIONED_PACKAGES),
    "kbench_version",
    "torch_cuda_version",
    "cudnn_version",
    "device",
    "cuda_visible_devices",
    "cuda_device_order",
    *GPU_KEYS,
    *GIT_KEYS,
    *TORCH_SETTING_KEYS,
)


def package_version(distribution: str) -> str | None:
    """Installed version of a distribution, ``None`` when it is not installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model"):
                    return value.strip() or None
    except OSError:
        pass
    return platform.processor() or None


def _torch_facts(device: str) -> dict[str, Any]:
    """CUDA/cuDNN versions torch was built with, from an imported torch (importing it costs seconds)."""
    torch: Any = sys.modules.get("torch")
    if torch is None and device.startswith("cuda"):
        try:
            import torch
        except ImportError:
            torch = None
    if torch is None:
        # Wheel tags carry the CUDA build: 2.5.1+cu124 -> "12.4"; +cpu -> no CUDA.
        local = (package_version("torch") or "").partition("+")[2]
        cuda = f"{local[2:-1]}.{local[-1]}" if local.startswith("cu") and local[2:].isdigit() else None
        return {"torch_cuda_version": cuda, "cudnn_version": None}
    try:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except Exception:
        cudnn = None
    return {"torch_cuda_version": torch.version.cuda, "cudnn_version": cudnn}


def _gpu_facts_nvml(device: str, nvml_module: Any) -> dict[str, Any] | None:
    nvml, _ = load_nvml(nvml_module)
    if nvml is None:
        return None
    try:
        index, handle = open_gpu(nvml, device)
    except Exception:
        shutdown_nvml(nvml)
        return None
    getters: dict[str, Any] = {
        "gpu_name": lambda: _text(nvml.nvmlDeviceGetName(handle)),
        "gpu_uuid": lambda: _text(nvml.nvmlDeviceGetUUID(handle)),
        "gpu_memory_total_mb": lambda: nvml.nvmlDeviceGetMemoryInfo(handle).total / MIB,
        "power_limit_w": lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0,
        "driver_version": lambda: _text(nvml.nvmlSystemGetDriverVersion()),
        "cuda_driver_version": lambda: _cuda_version(nvml.nvmlSystemGetCudaDriverVersion()),
        "gpu_pci_bus_id": lambda: _text(nvml.nvmlDeviceGetPciInfo(handle).busId),
        "persistence_mode": lambda: bool(nvml.nvmlDeviceGetPersistenceMode(handle)),
        # offload speed depends on the link the GPU trained to, not the slot's maximum
        "pcie_gen": lambda: int(nvml.nvmlDeviceGetCurrPcieLinkGeneration(handle)),
        "pcie_width": lambda: int(nvml.nvmlDeviceGetCurrPcieLinkWidth(handle)),
        "pcie_gen_max": lambda: int(nvml.nvmlDeviceGetMaxPcieLinkGeneration(handle)),
        "pcie_width_max": lambda: int(nvml.nvmlDeviceGetMaxPcieLinkWidth(handle)),
        "sm_clock_mhz": lambda: int(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
        "mem_clock_mhz": lambda: int(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM)),
        "sm_clock_max_mhz": lambda: int(nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM)),
        # the clocks policy: application clocks set with `nvidia-smi -ac` (the default when none are set)
        "app_sm_clock_mhz": lambda: int(nvml.nvmlDeviceGetApplicationsClock(handle, nvml.NVML_CLOCK_SM)),
    }
    facts: dict[str, Any] = {"gpu_index": index}
    for key, get in getters.items():
        try:
            facts[key] = get()
        except Exception:  # one unsupported query must not hide the others
            facts[key] = None
    shutdown_nvml(nvml)
    if facts.get("pcie_gen") is not None and facts.get("pcie_width") is not None:
        facts["pcie_link"] = f"Gen{facts['pcie_gen']} x{facts['pcie_width']}"
    return facts


def _gpu_facts_torch(device: str) -> dict[str, Any]:
    """Fallback without NVML: what an already initialised torch knows (never initialises CUDA itself)."""
    torch: Any = sys.modules.get("torch")
    try:
        if torch is None or not torch.cuda.is_initialized():
            return {}
        props = torch.cuda.get_device_properties(torch.device(device))
        uuid = getattr(props, "uuid", None)
        return {
            "gpu_name": props.name,
            "gpu_uuid": f"GPU-{uuid}" if uuid is not None else None,
            "gpu_memory_total_mb": props.total_memory / MIB,
        }
    except Exception:
        return {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cuda_version(encoded: int) -> str:
    """NVML encodes CUDA 12.4 as 12040."""
    return f"{encoded // 1000}.{encoded % 1000 // 10}"


def gpu_name_for(device: str, *, nvml_module: Any = None) -> str | None:
    """NVML's name for the GPU behind ``device`` (e.g. to match the GPU catalog), ``None`` on CPU or without NVML."""
    if not device.startswith("cuda"):
        return None
    facts = _gpu_facts_nvml(device, nvml_module) or _gpu_facts_torch(device)
    name = facts.get("gpu_name")
    return str(name) if name is not None else None


def file_sha256(path: str | Path) -> str | None:
    """Hex SHA-256 of a file's bytes, ``None`` when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def capture_environment(device: str, *, nvml_module: Any = None, spec: RunSpec | None = None) -> dict[str, Any]:
    """Facts about this machine and software for a run on ``device``; JSON-serialisable.

    Args:
        device: torch device string of the run ("cpu", "cuda", "cuda:N").
        nvml_module: a ``pynvml`` stand-in (tests); by default ``pynvml`` is imported.
        spec: when given, the run's dtype, memory option, weight source and scenario file hash are added
            (:data:`SPEC_KEYS`), so the environment alone says what ran.

    Returns:
        A dict with every key of :data:`ENV_KEYS` (plus :data:`SPEC_KEYS` with ``spec``).
    """
    env: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),  # GiB
    }
    env.update({f"{name}_version": package_version(dist) for name, dist in VERSIONED_PACKAGES.items()})
    env["kbench_version"] = __version__
    env.update(_torch_facts(device))
    env["device"] = device
    env["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    env["cuda_device_order"] = os.environ.get("CUDA_DEVICE_ORDER")
    env.update(git_facts())
    env.update(torch_settings())
    env.update(dict.fromkeys(GPU_KEYS))
    if device.startswith("cuda"):
        env.update(_gpu_facts_nvml(device, nvml_module) or _gpu_facts_torch(device))
    if spec is not None:
        env.update(
            dtype=spec.dtype,
            memory=spec.memory,
            weights=spec.weights,
            scenario_file=spec.scenario_file,
            scenario_sha256=spec.scenario_sha256 or (file_sha256(spec.scenario_file) if spec.scenario_file else None),
        )
    return env


__all__ = ["ENV_KEYS", "GPU_KEYS", "SPEC_KEYS", "capture_environment", "cpu_model", "file_sha256", "gpu_name_for"]

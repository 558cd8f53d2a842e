"""GPU sampler over NVML (``pynvml`` from nvidia-ml-py): memory, utilisation, power, energy, clocks, throttling.

NVML sees the whole device, not one process: ``vram_used_mb`` includes the CUDA context and anything else on
the GPU, which is why other processes on the same GPU are reported as a warning. Works against the real
``pynvml`` module or any object with the same names (see :mod:`bench.measure.samplers.fake_pynvml`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from bench.measure.samplers.base import MIB, Reading

NVML_FIELDS = (
    "vram_used_mb",
    "gpu_util_pct",
    "mem_util_pct",
    "power_w",
    "energy_j",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "temp_c",
    "throttle_reasons",
)
PROCESS_CHECK_INTERVAL_S = 1.0
# Errors that will not go away between calls: the field is dropped for the whole run (with a warning).
_PERMANENT_ERRORS = (
    "NVMLError_NotSupported",
    "NVMLError_FunctionNotFound",
    "NVMLError_NoPermission",
    "NVMLError_Deprecated",
    "NVMLError_GpuIsLost",
    "NVMLLibraryMismatchError",
)
# nvmlClocksEventReason* bits that mean the GPU was slowed by heat or a hardware limit. SwPowerCap (0x4) is left
# out: running at the power limit is normal under full load.
THROTTLE_WARNING_BITS = {
    0x8: "HwSlowdown",
    0x20: "SwThermalSlowdown",
    0x40: "HwThermalSlowdown",
    0x80: "HwPowerBrakeSlowdown",
}
_NOT_SAMPLED = "GPU memory, power and energy are not sampled"


def nvml_failures(nvml: Any) -> tuple[type[BaseException], ...]:
    """Everything an NVML call can raise: ``NVMLError`` and its subclasses, ``NVMLLibraryMismatchError`` (not an
    ``NVMLError``), and ``AttributeError`` for a function a newer nvidia-ml-py dropped."""
    found = [getattr(nvml, name, None) for name in ("NVMLError", "NVMLLibraryMismatchError")]
    return (*(c for c in found if isinstance(c, type)), AttributeError)


def permanent_failures(nvml: Any) -> tuple[type[BaseException], ...]:
    """The failures that will not clear between samples: the field is given up for the run."""
    found = [getattr(nvml, name, None) for name in _PERMANENT_ERRORS]
    return (*(c for c in found if isinstance(c, type)), AttributeError)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` for an NVML error, even when formatting the message itself fails (no library)."""
    try:
        text = str(exc)
    except Exception:  # pynvml's __str__ calls into the library it may have failed to load
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_nvml(nvml_module: Any = None) -> tuple[Any | None, str | None]:
    """Import ``pynvml`` (or take ``nvml_module``) and initialise it.

    Returns:
        ``(module, None)`` when NVML is up (the caller owns one ``nvmlShutdown``), else ``(None, warning)``.
    """
    if nvml_module is None:
        try:
            import pynvml
        except ImportError:
            return None, f"pynvml (nvidia-ml-py) is not installed: {_NOT_SAMPLED}"
        nvml_module = pynvml
    try:
        nvml_module.nvmlInit()
    except Exception as exc:  # LibraryNotFound / DriverNotLoaded, or a broken install: never fatal
        return None, f"NVML unavailable ({describe_error(exc)}): {_NOT_SAMPLED}"
    return nvml_module, None


def shutdown_nvml(nvml: Any) -> None:
    """``nvmlShutdown``, ignoring errors: it runs on cleanup paths."""
    with contextlib.suppress(Exception):
        nvml.nvmlShutdown()


def cuda_index(device: str) -> int:
    """``"cuda"`` -> 0, ``"cuda:N"`` -> N (the index as CUDA numbers the visible devices)."""
    kind, _, index = device.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ValueError(f"not a CUDA device: {device!r} (expected cuda or cuda:N)")
    return int(index or 0)


def physical_gpu_index(index: int, visible_devices: str | None, uuids: Callable[[], Sequence[str]]) -> int:
    """Map CUDA's device index to NVML's, honouring ``CUDA_VISIBLE_DEVICES``.

    As CUDA does, the list is read up to its first invalid entry. Entries are physical indices or UUIDs
    (a unique prefix such as ``GPU-8932f937`` is enough). Without the variable the indices are taken as equal,
    which holds when all GPUs are alike or ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (NVML orders by PCI bus).

    Raises:
        LookupError: the index is not visible, or names a MIG instance or an unknown UUID.
    """
    if visible_devices is None:
        return index
    entries: list[str] = []
    for raw in visible_devices.split(","):
        entry = raw.strip()
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        entries.append(entry)
    if index >= len(entries):
        raise LookupError(f"cuda:{index} is not visible with CUDA_VISIBLE_DEVICES={visible_devices!r}")
    entry = entries[index]
    if entry.isdigit():
        return int(entry)
    if entry.startswith("MIG-"):
        raise LookupError(f"{entry} is a MIG instance; NVML sampling covers whole GPUs only")
    matches = [i for i, uuid in enumerate(uuids()) if uuid.startswith(entry)]
    if len(matches) != 1:
        raise LookupError(f"CUDA_VISIBLE_DEVICES entry {entry!r} matches {len(matches)} GPUs")
    return matches[0]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def torch_gpu_uuid(device: str) -> str | None:
    """The UUID torch reports for ``device`` (``GPU-...``), if torch is loaded with CUDA; never initialises CUDA."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not device.startswith("cuda"):
        return None
    try:
        if not torch.cuda.is_initialized():
            return None
        uuid = str(torch.cuda.get_device_properties(torch.device(device)).uuid)
    except Exception:  # an old torch without .uuid, or a device that went away
        return None
    return uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"


def open_gpu(nvml: Any, device: str, uuid: str | None = None) -> tuple[int, Any]:
    """Resolve ``device`` to ``(physical index, NVML handle)`` on an initialised NVML.

    By the UUID torch reports for the device when known (the same GPU whatever the index orders), else by
    CUDA's index through ``CUDA_VISIBLE_DEVICES`` (:func:`physical_gpu_index`).

    Raises:
        ValueError, LookupError, NVMLError: the device cannot be found.
    """
    uuid = uuid or torch_gpu_uuid(device)
    if uuid is not None:
        with contextlib.suppress(*nvml_failures(nvml)):
            handle = nvml.nvmlDeviceGetHandleByUUID(uuid)
            return int(nvml.nvmlDeviceGetIndex(handle)), handle

    def uuids() -> list[str]:
        count = nvml.nvmlDeviceGetCount()
        return [_text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]

    index = physical_gpu_index(cuda_index(device), os.environ.get("CUDA_VISIBLE_DEVICES"), uuids)
    return index, nvml.nvmlDeviceGetHandleByIndex(index)


def _throttle_reasons(nvml: Any, handle: Any) -> int:
    # The "event reasons" call replaced "throttle reasons" in newer drivers; older ones have only the latter.
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        fn = getattr(nvml, name, None)
        if fn is None:
            continue
        try:
            return int(fn(handle))
        except nvml.NVMLError_FunctionNotFound:
            continue
    raise nvml.NVMLError_NotSupported()


def _is_not_supported(exc: BaseException) -> bool:
    """The device lacks the feature (an expected gap, listed in ``unsupported`` without a warning)."""
    return type(exc).__name__ in ("NVMLError_NotSupported", "NVMLError_FunctionNotFound")


def _utilisation(rates: Any) -> tuple[float, float]:
    return float(rates.gpu), float(rates.memory)


@dataclass(frozen=True)
class _Probe:
    """One NVML call and the fields it yields, already in the project's units."""

    fields: tuple[str, ...]
    read: Callable[[Any, Any], tuple[float, ...]]


_PROBES = (
    _Probe(("vram_used_mb",), lambda n, h: (n.nvmlDeviceGetMemoryInfo(h).used / MIB,)),
    _Probe(("gpu_util_pct", "mem_util_pct"), lambda n, h: _utilisation(n.nvmlDeviceGetUtilizationRates(h))),
    _Probe(("power_w",), lambda n, h: (n.nvmlDeviceGetPowerUsage(h) / 1000.0,)),  # mW
    _Probe(("energy_j",), lambda n, h: (n.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0,)),  # mJ since driver load
    _Probe(("sm_clock_mhz",), lambda n, h: (float(n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM)),)),
    _Probe(("mem_clock_mhz",), lambda n, h: (float(n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM)),)),
    _Probe(("temp_c",), lambda n, h: (float(n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU)),)),
    _Probe(("throttle_reasons",), lambda n, h: (float(_throttle_reasons(n, h)),)),
)


def _own_pids(pid: int) -> set[int]:
    try:
        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        return {pid}


class NvmlSampler:
    """Samples one GPU. Each field is probed once at open: a field NVML does not support reads ``None``
    from then on (:attr:`unsupported`); any other NVML error makes only that reading ``None``.

    ``energy_j`` is the total-energy counter relative to its value at open, so it starts near 0. ``power_w`` is
    ``nvmlDeviceGetPowerUsage``: averaged over 1 s on Ampere (except GA100) and newer, instantaneous before (NVML
    API reference, nvmlDeviceGetPowerUsage), so the counter is preferred for energy. ``throttle_reasons`` is the
    ``nvmlClocksEventReason*`` bit mask.
    """

    name = "nvml"
    fields: tuple[str, ...] = NVML_FIELDS

    def __init__(self, nvml: Any, handle: Any, gpu_index: int, pid: int, *, clock: Callable[[], float] | None = None):
        """Probe the fields and look for other processes; ``nvml`` must be initialised (closed by :meth:`close`)."""
        self.gpu_index = gpu_index
        self.pid = pid
        self._nvml = nvml
        self._handle = handle
        self._clock = clock or time.monotonic
        self._closed = False
        self._energy_base_j: float | None = None
        self._others: dict[int, tuple[str, float | None]] = {}  # pid -> (name, most memory seen, MiB)
        self._samples = 0
        self._slowed_samples = 0
        self._throttled: dict[str, int] = {}  # reason -> samples
        self._failures = nvml_failures(nvml)
        self._permanent = permanent_failures(nvml)
        self._dropped: dict[str, str] = {}  # field -> why it reads None for the rest of the run
        self._probes: list[_Probe] = []
        unsupported: list[str] = []
        for probe in _PROBES:
            try:
                values = probe.read(nvml, handle)
            except self._permanent as exc:
                unsupported.extend(probe.fields)
                if not _is_not_supported(exc):
                    self._dropped.update(dict.fromkeys(probe.fields, describe_error(exc)))
                continue
            except self._failures:  # transient: keep the field, this first value is just lost
                values = None
            self._probes.append(probe)
            if values is not None and probe.fields == ("energy_j",):
                self._energy_base_j = values[0]
        self.unsupported: tuple[str, ...] = tuple(unsupported)
        self._check_processes(at_open=True)
        self._last_check = self._clock()

    def read(self) -> Reading:
        """One reading of every field; see the class docstring for ``None`` semantics."""
        out: Reading = dict.fromkeys(self.fields)
        for probe in list(self._probes):
            try:
                out.update(zip(probe.fields, probe.read(self._nvml, self._handle), strict=True))
            except self._permanent as exc:  # e.g. the GPU fell off the bus: stop asking, say so
                self._probes.remove(probe)
                self._dropped.update(dict.fromkeys(probe.fields, describe_error(exc)))
            except self._failures:
                continue
        energy = out["energy_j"]
        if energy is not None:
            if self._energy_base_j is None:
                self._energy_base_j = energy
            out["energy_j"] = energy - self._energy_base_j
        self._note_throttling(out["throttle_reasons"])
        if self._clock() - self._last_check >= PROCESS_CHECK_INTERVAL_S:
            self._check_processes(at_open=False)
            self._last_check = self._clock()
        return out

    def _note_throttling(self, mask: float | None) -> None:
        self._samples += 1
        reasons = [r for bit, r in THROTTLE_WARNING_BITS.items() if mask is not None and int(mask) & bit]
        if reasons:
            self._slowed_samples += 1
        for reason in reasons:
            self._throttled[reason] = self._throttled.get(reason, 0) + 1

    def _check_processes(self, *, at_open: bool) -> None:
        """Remember compute processes on this GPU that are not ours (the process and its descendants).

        At open every foreign pid counts: the sampler starts before the model loads, so our own process has no
        context yet. Later checks count only pids visible here, because inside a container NVML reports host
        pids and our own process would otherwise look foreign.
        """
        try:
            procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except self._failures:
            return
        own = _own_pids(self.pid)
        for proc in procs:
            pid = int(proc.pid)
            if pid in own or (not at_open and not psutil.pid_exists(pid)):
                continue
            used_b = getattr(proc, "usedGpuMemory", None)
            used_mb = used_b / MIB if used_b is not None else None
            name, seen_mb = self._others.get(pid, (None, None))
            if seen_mb is not None and (used_mb is None or seen_mb > used_mb):
                used_mb = seen_mb
            self._others[pid] = (name or self._process_name(pid), used_mb)

    def _process_name(self, pid: int) -> str:
        try:
            return psutil.Process(pid).name()
        except psutil.Error:
            pass
        try:
            return _text(self._nvml.nvmlSystemGetProcessName(pid))
        except Exception:
            return "?"

    @property
    def warnings(self) -> list[str]:
        """A shared-GPU warning and a throttling warning, when either happened."""
        out: list[str] = []
        by_reason: dict[str, list[str]] = {}
        for name, reason in self._dropped.items():
            by_reason.setdefault(reason, []).append(name)
        for reason, names in by_reason.items():
            out.append(
                f"NVML stopped reporting {', '.join(names)} on GPU {self.gpu_index} ({reason}): null in this record"
            )
        if self._others:
            procs = ", ".join(
                f"pid {pid} ({name}) {'?' if mb is None else f'{mb:.0f}'} MB"
                for pid, (name, mb) in sorted(self._others.items())
            )
            out.append(f"GPU shared: other processes [{procs}] were using GPU {self.gpu_index}")
        if self._throttled:
            reasons = ", ".join(
                f"{r}: {self._throttled[r]}" for r in THROTTLE_WARNING_BITS.values() if r in self._throttled
            )
            out.append(
                f"GPU {self.gpu_index} clocks were slowed in {self._slowed_samples} of {self._samples} samples "
                f"({reasons}): timings may not reflect the GPU's sustained speed"
            )
        return out

    def close(self) -> None:
        """Shut NVML down once (it is reference-counted, so other users keep theirs)."""
        if not self._closed:
            self._closed = True
            shutdown_nvml(self._nvml)


def open_nvml_sampler(device: str, pid: int, *, nvml_module: Any = None) -> tuple[NvmlSampler | None, list[str]]:
    """Open the sampler for ``device`` watching process ``pid``; ``(None, [warning])`` when that cannot be done."""
    nvml, warning = load_nvml(nvml_module)
    if nvml is None:
        return None, [warning or "NVML unavailable"]
    failures: tuple[type[BaseException], ...] = (ValueError, LookupError, *nvml_failures(nvml))
    try:
        index, handle = open_gpu(nvml, device)
        return NvmlSampler(nvml, handle, index, pid), []
    except failures as exc:
        shutdown_nvml(nvml)
        return None, [f"NVML cannot open {device} ({describe_error(exc)}): {_NOT_SAMPLED}"]

"""A tiny stand-in for ``pynvml``, driven by a scripted device, for machines without a GPU.

It has the function names, constants, return shapes and error classes the samplers use, and nothing else.
Each scripted sequence gives one value per call of its function, so a test knows which reading gets which value.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2


class NVMLError(Exception):
    """Root of the fake NVML errors, as in pynvml."""

    def __str__(self) -> str:
        return type(self).__name__.removeprefix("NVMLError_")


class NVMLError_NotSupported(NVMLError): ...


class NVMLError_FunctionNotFound(NVMLError): ...


class NVMLError_LibraryNotFound(NVMLError): ...


class NVMLError_DriverNotLoaded(NVMLError): ...


class NVMLError_Unknown(NVMLError): ...


class NVMLError_NoPermission(NVMLError): ...


class NVMLError_NotFound(NVMLError): ...


class NVMLError_GpuIsLost(NVMLError): ...


class NVMLError_Deprecated(NVMLError): ...


class NVMLLibraryMismatchError(Exception):
    """As in pynvml: raised when the bindings and the driver library disagree; NOT an ``NVMLError``."""


@dataclass
class FakeDevice:
    """Scripted per-call values (the last repeats). ``unsupported``: functions raising NotSupported (clocks are
    ``nvmlDeviceGetClockInfo:sm_clock_mhz``/``:mem_clock_mhz``); ``fail_calls``: ``(function, call from 0)``
    pairs raising NVMLError_Unknown; ``errors``: function -> the error class it raises on every call (e.g.
    NVMLError_GpuIsLost, NVMLLibraryMismatchError)."""

    name: str = "Fake GPU"
    uuid: str = "GPU-00000000-fake-0000-0000-000000000000"
    memory_total_b: int = 16 * 1024**3
    memory_used_b: Sequence[int] = (0,)
    util_pct: Sequence[tuple[int, int]] = ((0, 0),)  # (gpu, memory)
    power_mw: Sequence[int] = (0,)
    energy_mj: Sequence[int] = (0,)
    sm_clock_mhz: Sequence[int] = (1000,)
    mem_clock_mhz: Sequence[int] = (2000,)
    temp_c: Sequence[int] = (40,)
    throttle_reasons: Sequence[int] = (0,)
    power_limit_mw: int = 300_000
    pcie: tuple[int, int] = (4, 16)  # current link generation and width
    processes: Sequence[tuple[int, int | None]] = ()  # (pid, used bytes)
    unsupported: frozenset[str] = frozenset()
    fail_calls: frozenset[tuple[str, int]] = frozenset()
    errors: dict[str, type[Exception]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)

    def next(self, function: str, attr: str) -> Any:
        """Return this call's value of the scripted sequence ``attr``, or raise the scripted error."""
        n = self.calls[function]
        self.calls[function] += 1
        if function in self.unsupported:
            raise NVMLError_NotSupported()
        if function in self.errors:
            raise self.errors[function]()
        if (function, n) in self.fail_calls:
            raise NVMLError_Unknown()
        values = getattr(self, attr)
        return values[min(n, len(values) - 1)]


@dataclass
class FakeNvml:
    """Module-like object: pass an instance wherever an ``nvml_module`` is accepted. Handles are device indices."""

    devices: list[FakeDevice] = field(default_factory=lambda: [FakeDevice()])
    init_error: type[Exception] | None = None  # e.g. NVMLError_LibraryNotFound: no driver
    missing: frozenset[str] = frozenset()  # functions this "version" of the bindings does not have
    driver_version: str = "999.01"
    cuda_driver_version: int = 12040
    init_count: int = 0

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("nvml") and name in object.__getattribute__(self, "missing"):
            raise AttributeError(f"module 'pynvml' has no attribute {name!r}")  # a function a release dropped
        return object.__getattribute__(self, name)

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error()
        self.init_count += 1

    def nvmlShutdown(self) -> None:
        self.init_count -= 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.devices):
            raise NVMLError_Unknown()
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        for index, dev in enumerate(self.devices):
            if dev.uuid == uuid:
                return index
        raise NVMLError_NotFound()

    def nvmlDeviceGetIndex(self, handle: int) -> int:
        return handle

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self.devices[handle].name

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self.devices[handle].uuid

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self.cuda_driver_version

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return self.devices[handle].power_limit_mw

    def nvmlDeviceGetPciInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(busId=f"00000000:{handle + 1:02X}:00.0")

    def nvmlDeviceGetPersistenceMode(self, handle: int) -> int:
        return 1

    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle: int) -> int:
        return self.devices[handle].pcie[0]

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: int) -> int:
        return self.devices[handle].pcie[1]

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle: int) -> int:
        return 4

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: int) -> int:
        return 16

    def nvmlDeviceGetMaxClockInfo(self, handle: int, clock: int) -> int:
        return 2520 if clock == NVML_CLOCK_SM else 10501

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        dev = self.devices[handle]
        used = dev.next("nvmlDeviceGetMemoryInfo", "memory_used_b")
        return SimpleNamespace(total=dev.memory_total_b, used=used, free=dev.memory_total_b - used)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        gpu, memory = self.devices[handle].next("nvmlDeviceGetUtilizationRates", "util_pct")
        return SimpleNamespace(gpu=gpu, memory=memory)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return int(self.devices[handle].next("nvmlDeviceGetPowerUsage", "power_mw"))

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        return int(self.devices[handle].next("nvmlDeviceGetTotalEnergyConsumption", "energy_mj"))

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        attr = "sm_clock_mhz" if clock == NVML_CLOCK_SM else "mem_clock_mhz"
        return int(self.devices[handle].next(f"nvmlDeviceGetClockInfo:{attr}", attr))

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return int(self.devices[handle].next("nvmlDeviceGetTemperature", "temp_c"))

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: int) -> int:
        return int(self.devices[handle].next("nvmlDeviceGetCurrentClocksEventReasons", "throttle_reasons"))

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        dev = self.devices[handle]
        if "nvmlDeviceGetComputeRunningProcesses" in dev.errors:
            raise dev.errors["nvmlDeviceGetComputeRunningProcesses"]()
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in dev.processes]


# pynvml exposes its constants and error classes as module attributes: mirror them on the fake.
for _name, _value in list(globals().items()):
    if _name.startswith(("NVML_", "NVMLError", "NVMLLibrary")):
        setattr(FakeNvml, _name, _value)

"""Device samplers: NVML against a scripted fake (no GPU here), the CPU sampler and the thread for real."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from bench.measure.samplers import (
    DEFAULT_INTERVAL_S,
    MIB,
    NVML_FIELDS,
    CpuSampler,
    DeviceSampler,
    NvmlSampler,
    SamplerThread,
    TorchAllocatorTracker,
    open_samplers,
    physical_gpu_index,
)
from bench.measure.samplers.fake_pynvml import (
    FakeDevice,
    FakeNvml,
    NVMLError_DriverNotLoaded,
    NVMLError_LibraryNotFound,
)

PID = os.getpid()
GIB = 1024**3


class FakeClock:
    """A settable clock, so sample times (and so integrals) are exact."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:
        return False


def open_fake(device: FakeDevice, name: str = "cuda") -> tuple[list[DeviceSampler], list[str], FakeNvml]:
    nvml = FakeNvml([device])
    samplers, warnings = open_samplers(name, PID, nvml_module=nvml)
    return samplers, warnings, nvml


def scripted_run(device: FakeDevice, times_s: list[float]) -> SamplerThread:
    """Sample the fake at exactly ``times_s`` (the background tick is set far beyond the test)."""
    samplers, _, _ = open_fake(device)
    clock = FakeClock()
    thread = SamplerThread([s for s in samplers if s.name == "nvml"], interval_s=3600, clock=clock)
    thread.start()  # samples at t=0
    for t in times_s[1:-1]:
        clock.t = 100.0 + t
        thread.sample()
    clock.t = 100.0 + times_s[-1]
    thread.stop()  # final sample
    assert thread.t_s == times_s
    return thread


def test_nvml_scripted_values_give_exact_series():
    # The first value of each sequence is consumed by the probe at open (and is the energy counter's zero).
    device = FakeDevice(
        memory_used_b=(1 * GIB, 2 * GIB, 3 * GIB),
        util_pct=((0, 0), (50, 20), (100, 40)),
        power_mw=(60_000, 150_500, 300_000),
        energy_mj=(5_000_000, 5_100_000, 5_400_000),
        sm_clock_mhz=(1980,),
        mem_clock_mhz=(2619,),
        temp_c=(40, 55, 61),
        throttle_reasons=(0x1, 0x0, 0x4),
    )
    samplers, warnings, nvml = open_fake(device)
    assert warnings == []
    assert [s.name for s in samplers] == ["cpu", "nvml"]
    gpu = samplers[1]
    assert isinstance(gpu, NvmlSampler) and isinstance(gpu, DeviceSampler)
    assert gpu.fields == NVML_FIELDS and gpu.unsupported == ()
    first, second = gpu.read(), gpu.read()
    assert first == {
        "vram_used_mb": 2048.0,
        "gpu_util_pct": 50.0,
        "mem_util_pct": 20.0,
        "power_w": 150.5,
        "energy_j": 100.0,
        "sm_clock_mhz": 1980.0,
        "mem_clock_mhz": 2619.0,
        "temp_c": 55.0,
        "throttle_reasons": 0.0,
    }
    assert (second["vram_used_mb"], second["power_w"], second["energy_j"], second["throttle_reasons"]) == (
        3072.0,
        300.0,
        400.0,
        4.0,
    )
    assert gpu.warnings == []  # SwPowerCap alone is normal under load
    gpu.close()
    gpu.close()
    assert nvml.init_count == 0


def test_unsupported_fields_read_none_and_transient_errors_lose_one_reading():
    device = FakeDevice(
        memory_used_b=(GIB,),
        power_mw=(100_000,),
        unsupported=frozenset({"nvmlDeviceGetTemperature", "nvmlDeviceGetClockInfo:mem_clock_mhz"}),
        fail_calls=frozenset({("nvmlDeviceGetPowerUsage", 2)}),  # call 0 is the open probe
    )
    samplers, _, _ = open_fake(device)
    gpu = samplers[1]
    assert isinstance(gpu, NvmlSampler)
    assert gpu.unsupported == ("mem_clock_mhz", "temp_c")
    readings = [gpu.read() for _ in range(3)]
    assert [r["power_w"] for r in readings] == [100.0, None, 100.0]
    assert all(r["temp_c"] is None and r["mem_clock_mhz"] is None for r in readings)
    assert all(r["vram_used_mb"] == 1024.0 and r["sm_clock_mhz"] == 1000.0 for r in readings)
    assert device.calls["nvmlDeviceGetTemperature"] == 1  # probed once at open, never again


def test_energy_from_counter_interpolated_at_window_bounds():
    # Counter (mJ): zero at open, then 0, 300, 600, 1200 J at t = 0, 1, 2, 4 s.
    device = FakeDevice(energy_mj=(7_000_000, 7_000_000, 7_300_000, 7_600_000, 8_200_000), power_mw=(1,))
    thread = scripted_run(device, [0.0, 1.0, 2.0, 4.0])
    assert thread.series["energy_j"] == [0.0, 300.0, 600.0, 1200.0]
    # At 0.5 s: 150 J; at 3 s: 600 + (1200 - 600) / 2 = 900 J.
    assert thread.energy_between(0.5, 3.0) == pytest.approx((750.0, "counter"))
    assert thread.energy_between(1.0, 1.0) == (0.0, "counter")


def test_energy_falls_back_to_power_integral_without_counter():
    device = FakeDevice(
        power_mw=(0, 100_000, 200_000, 200_000, 50_000),
        unsupported=frozenset({"nvmlDeviceGetTotalEnergyConsumption"}),
    )
    thread = scripted_run(device, [0.0, 1.0, 2.0, 4.0])
    assert thread.series["energy_j"] == [None] * 4
    assert thread.series["power_w"] == [100.0, 200.0, 200.0, 50.0]
    # Trapezoids over [0.5, 3]: P(0.5)=150, P(1)=200, P(2)=200, P(3)=125 W
    # -> 0.5*(150+200)/2 + 1*(200+200)/2 + 1*(200+125)/2 = 87.5 + 200 + 162.5 = 450 J.
    joules, method = thread.energy_between(0.5, 3.0)
    assert method == "power_integral"
    assert joules == pytest.approx(450.0)
    assert thread.mean_between("power_w", 0.5, 3.0) == pytest.approx(450.0 / 2.5)
    assert thread.peak("power_w") == 200.0
    assert thread.value_at("power_w", 3.0) == pytest.approx(125.0)
    assert thread.value_at("power_w", -1.0) == 100.0 and thread.value_at("power_w", 9.0) == 50.0
    with pytest.raises(ValueError, match="ends before it starts"):
        thread.energy_between(3.0, 1.0)


def test_no_power_no_energy_and_unknown_fields_are_none():
    device = FakeDevice(unsupported=frozenset({"nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage"}))
    thread = scripted_run(device, [0.0, 1.0])
    assert thread.energy_between(0.0, 1.0) == (None, None)
    assert thread.peak("rss_mb") is None and thread.value_at("nope", 0.5) is None
    assert thread.mean_between("power_w", 0.0, 1.0) is None


@pytest.mark.parametrize("error", [NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded])
def test_missing_driver_gives_cpu_only_and_a_warning(error):
    samplers, warnings = open_samplers("cuda:0", PID, nvml_module=FakeNvml(init_error=error))
    assert [s.name for s in samplers] == ["cpu"]
    assert len(warnings) == 1 and "NVML unavailable" in warnings[0] and error.__name__ in warnings[0]


def test_real_pynvml_without_driver_or_cpu_device_never_raises():
    samplers, warnings = open_samplers("cpu", PID)
    assert [s.name for s in samplers] == ["cpu"] and warnings == []
    if _nvml_works():
        pytest.skip("NVML works on this machine; the missing-driver path is covered by the fake")
    samplers, warnings = open_samplers("cuda", PID)
    assert [s.name for s in samplers] == ["cpu"]
    assert len(warnings) == 1 and "not sampled" in warnings[0]


def test_other_process_on_the_gpu_is_a_shared_gpu_warning():
    parent = os.getppid()  # visible here, and not ours
    device = FakeDevice(processes=((PID, GIB), (parent, 2 * GIB), (4_000_000, None)))
    samplers, _, _ = open_fake(device)
    (warning,) = samplers[1].warnings  # type: ignore[attr-defined]
    name = psutil.Process(parent).name()
    assert warning == (
        f"GPU shared: other processes [pid {parent} ({name}) 2048 MB, pid 4000000 (?) ? MB] were using GPU 0"
    )
    assert f"pid {PID} " not in warning
    thread = SamplerThread(samplers, interval_s=3600)
    thread.start()
    thread.stop()
    assert thread.warnings == [warning]


def test_thermal_throttling_is_a_warning():
    device = FakeDevice(throttle_reasons=(0, 0x40, 0x0, 0x60))
    samplers, _, _ = open_fake(device)
    gpu = samplers[1]
    for _ in range(3):
        gpu.read()
    (warning,) = gpu.warnings  # type: ignore[attr-defined]
    assert warning.startswith("GPU 0 clocks were slowed in 2 of 3 samples (SwThermalSlowdown: 1, HwThermalSlowdown: 2)")


@pytest.mark.parametrize(
    ("visible", "index", "expected"),
    [(None, 1, 1), ("2,3", 1, 3), (" 3 , 1", 0, 3), ("GPU-bbbb", 0, 1), ("1,GPU-aa", 1, 0)],
)
def test_cuda_visible_devices_maps_to_the_physical_gpu(visible, index, expected):
    assert physical_gpu_index(index, visible, lambda: ["GPU-aaaa-1", "GPU-bbbb-2"]) == expected


@pytest.mark.parametrize("visible", ["", "0,foo,1", "GPU-cccc", "GPU-", "MIG-1234"])
def test_cuda_visible_devices_that_hide_the_gpu(visible):
    with pytest.raises(LookupError):
        physical_gpu_index(1 if visible == "0,foo,1" else 0, visible, lambda: ["GPU-aaaa-1", "GPU-bbbb-2"])


def test_open_samplers_samples_the_mapped_gpu(monkeypatch):
    nvml = FakeNvml([FakeDevice(uuid="GPU-aaaa"), FakeDevice(uuid="GPU-bbbb", memory_used_b=(5 * GIB,))])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbb")
    samplers, warnings = open_samplers("cuda:0", PID, nvml_module=nvml)
    assert warnings == [] and samplers[1].read()["vram_used_mb"] == 5120.0
    assert samplers[1].gpu_index == 1  # type: ignore[attr-defined]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    samplers, warnings = open_samplers("cuda:1", PID, nvml_module=nvml)
    assert [s.name for s in samplers] == ["cpu"] and "not visible" in warnings[0]
    assert nvml.init_count == 1  # the failed open shut its NVML down again


def test_cpu_sampler_counts_children_rss():
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; x = b'x' * (100 * 2**20); print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        sampler = CpuSampler(PID)
        tree_mb = sampler.read()["rss_mb"]
        own_mb = psutil.Process(PID).memory_info().rss / MIB
        assert tree_mb is not None
        assert 95 <= tree_mb - own_mb <= 200, (tree_mb, own_mb)
    finally:
        child.kill()
        child.wait()
    assert sampler.read()["rss_mb"] == pytest.approx(psutil.Process(PID).memory_info().rss / MIB, abs=20)


def test_cpu_sampler_sees_a_busy_child():
    sampler = CpuSampler(PID)
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass"])
    try:
        time.sleep(0.3)
        sampler.read()  # the child is new here: this primes it
        time.sleep(0.5)
        cpu_pct = sampler.read()["cpu_pct"]
    finally:
        child.kill()
        child.wait()
    assert cpu_pct is not None and 20 <= cpu_pct <= 100 * (os.cpu_count() or 1) + 10


def test_thread_samples_at_about_the_interval():
    thread = SamplerThread([CpuSampler(PID)], interval_s=DEFAULT_INTERVAL_S)
    thread.start()
    assert len(thread.t_s) == 1 and thread.t_s[0] == pytest.approx(0.0, abs=0.01)
    time.sleep(0.5)
    elapsed_s = thread.now_s()
    thread.stop()
    thread.stop()
    n = len(thread.t_s)
    # 1 at start + one per 50 ms tick + 1 at stop = 12 when nothing is late; allow a busy machine.
    assert 7 <= n <= 13, thread.t_s
    assert thread.t_s == sorted(thread.t_s) and thread.t_s[-1] >= elapsed_s
    assert set(thread.series) == {"rss_mb", "cpu_pct"}
    assert all(len(column) == n for column in thread.series.values())
    assert all(v is not None and v > 10 for v in thread.series["rss_mb"])


class BrokenSampler:
    name = "broken"
    fields: tuple[str, ...] = ("x",)

    def __init__(self) -> None:
        self.calls = 0

    def read(self) -> dict[str, float | None]:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("sensor gone")
        return {"x": float(self.calls)}

    def close(self) -> None:
        pass


def test_a_failing_sampler_costs_one_reading_and_warns_once():
    clock = FakeClock()
    thread = SamplerThread([BrokenSampler()], interval_s=3600, clock=clock)
    thread.start()
    thread.sample()
    thread.sample()
    thread.stop()
    assert thread.series["x"] == [1.0, None, 3.0, 4.0]
    assert thread.warnings == ["sampler broken failed (RuntimeError: sensor gone); its readings are missing"]


def test_thread_rejects_colliding_fields_and_bad_interval():
    with pytest.raises(ValueError, match="share field names"):
        SamplerThread([CpuSampler(PID), CpuSampler(PID)])
    with pytest.raises(ValueError, match="positive"):
        SamplerThread([], interval_s=0)


def test_torch_allocator_is_inert_off_cuda():
    tracker = TorchAllocatorTracker("cpu")
    tracker.reset()
    assert tracker.peaks_mb() == (None, None)
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA present: covered by the gpu tests")
    cuda = TorchAllocatorTracker("cuda:0")
    cuda.reset()
    assert cuda.peaks_mb() == (None, None)


@pytest.mark.gpu
@pytest.mark.skipif(not _nvml_works(), reason="needs an NVIDIA GPU with NVML")
def test_real_nvml_sampler_runs():
    samplers, warnings = open_samplers("cuda", PID)
    assert [s.name for s in samplers] == ["cpu", "nvml"], warnings
    with SamplerThread(samplers) as thread:
        time.sleep(0.3)
    assert len(thread.t_s) >= 4
    vram = [v for v in thread.series["vram_used_mb"] if v is not None]
    assert vram and all(v >= 0 for v in vram)
    assert thread.peak("temp_c") is None or 0 < thread.peak("temp_c") < 120  # type: ignore[operator]

"""NVML never loses a run: every failure mode degrades a metric to null with a warning.

Tested against the real ``pynvml`` where it exists without a GPU (its error classes, its ``nvmlInit`` failure on a
machine without the driver), and against the fake, which must raise exactly the classes the real module has.
"""

from __future__ import annotations

import os

import pynvml
import pytest

from bench.measure.env import capture_environment
from bench.measure.samplers import fake_pynvml as fake
from bench.measure.samplers import open_samplers
from bench.measure.samplers.nvml import load_nvml, nvml_failures, open_nvml_sampler, permanent_failures

FAKE_ERRORS = sorted(n for n in vars(fake) if n.startswith(("NVMLError", "NVMLLibrary")))


@pytest.mark.parametrize("name", FAKE_ERRORS)
def test_the_fake_raises_the_classes_the_real_module_has(name):
    real = getattr(pynvml, name)  # the fake names no error the real bindings lack
    fake_cls = getattr(fake, name)
    assert issubclass(real, pynvml.NVMLError) == issubclass(fake_cls, fake.NVMLError)


def test_library_mismatch_is_not_an_nvml_error_in_the_real_module():
    assert not issubclass(pynvml.NVMLLibraryMismatchError, pynvml.NVMLError)
    assert pynvml.NVMLLibraryMismatchError in nvml_failures(pynvml)
    assert pynvml.NVMLError_GpuIsLost in permanent_failures(pynvml)


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="this machine has an NVIDIA driver")
def test_the_real_nvml_init_failure_is_a_warning_not_an_error():
    module, warning = load_nvml(pynvml)
    assert module is None and "NVMLError_LibraryNotFound" in (warning or "")
    sampler, warnings = open_nvml_sampler("cuda", os.getpid(), nvml_module=pynvml)
    assert sampler is None and warnings
    samplers, warns = open_samplers("cuda:0", os.getpid(), nvml_module=pynvml)
    assert [s.name for s in samplers] == ["cpu"] and any("NVML" in w for w in warns)
    env = capture_environment("cuda", nvml_module=pynvml)  # never raises, whatever NVML does
    assert env["device"] == "cuda"


@pytest.mark.parametrize("error", [fake.NVMLError_LibraryNotFound, fake.NVMLLibraryMismatchError])
def test_init_failures_of_every_kind_are_warnings(error):
    sampler, warnings = open_nvml_sampler("cuda", os.getpid(), nvml_module=fake.FakeNvml(init_error=error))
    assert sampler is None and error.__name__ in warnings[0]


@pytest.mark.parametrize(
    ("error", "warned"),
    [
        (fake.NVMLError_NotSupported, False),  # an expected gap: listed as unsupported, no warning
        (fake.NVMLError_NoPermission, True),
        (fake.NVMLError_GpuIsLost, True),
        (fake.NVMLError_Deprecated, True),
        (fake.NVMLLibraryMismatchError, True),
    ],
)
def test_a_failing_field_at_open_reads_null_and_the_rest_is_sampled(error, warned):
    device = fake.FakeDevice(power_mw=(50_000,), errors={"nvmlDeviceGetTotalEnergyConsumption": error})
    sampler, warnings = open_nvml_sampler("cuda", os.getpid(), nvml_module=fake.FakeNvml(devices=[device]))
    assert sampler is not None and warnings == []
    reading = sampler.read()
    assert reading["energy_j"] is None and reading["power_w"] == 50.0
    assert "energy_j" in sampler.unsupported
    assert any("energy_j" in w for w in sampler.warnings) == warned
    sampler.close()


def test_a_function_the_bindings_dropped_reads_null():
    nvml = fake.FakeNvml(missing=frozenset({"nvmlDeviceGetTemperature"}))
    sampler, _ = open_nvml_sampler("cuda", os.getpid(), nvml_module=nvml)
    assert sampler is not None
    assert sampler.read()["temp_c"] is None and "temp_c" in sampler.unsupported
    assert any("temp_c" in w and "AttributeError" in w for w in sampler.warnings)


def test_a_gpu_lost_mid_run_drops_its_fields_with_a_warning():
    device = fake.FakeDevice(memory_used_b=(1024**3,))
    nvml = fake.FakeNvml(devices=[device])
    sampler, _ = open_nvml_sampler("cuda", os.getpid(), nvml_module=nvml)
    assert sampler is not None and sampler.read()["vram_used_mb"] == 1024.0
    device.errors["nvmlDeviceGetMemoryInfo"] = fake.NVMLError_GpuIsLost
    assert sampler.read()["vram_used_mb"] is None
    assert sampler.read()["vram_used_mb"] is None  # given up: not asked again
    assert device.calls["nvmlDeviceGetMemoryInfo"] == 3
    assert any("vram_used_mb" in w and "GpuIsLost" in w for w in sampler.warnings)


def test_a_transient_error_loses_one_reading_only():
    device = fake.FakeDevice(power_mw=(10_000, 20_000, 30_000), fail_calls=frozenset({("nvmlDeviceGetPowerUsage", 1)}))
    sampler, _ = open_nvml_sampler("cuda", os.getpid(), nvml_module=fake.FakeNvml(devices=[device]))
    assert sampler is not None
    assert [sampler.read()["power_w"] for _ in range(2)] == [None, 30.0]
    assert sampler.warnings == []


def test_process_listing_failures_are_ignored():
    device = fake.FakeDevice(errors={"nvmlDeviceGetComputeRunningProcesses": fake.NVMLLibraryMismatchError})
    sampler, _ = open_nvml_sampler("cuda", os.getpid(), nvml_module=fake.FakeNvml(devices=[device]))
    assert sampler is not None and sampler.read()["vram_used_mb"] is not None


def test_the_gpu_is_found_by_the_uuid_torch_reports_not_by_index():
    a = fake.FakeDevice(name="A", uuid="GPU-aaaa")
    b = fake.FakeDevice(name="B", uuid="GPU-bbbb")
    nvml = fake.FakeNvml(devices=[a, b])
    from bench.measure.samplers.nvml import open_gpu

    assert open_gpu(nvml, "cuda:0", uuid="GPU-bbbb") == (1, 1)  # a pinned child's cuda:0 is physical GPU 1
    assert open_gpu(nvml, "cuda:0", uuid="GPU-gone") == (0, 0)  # unknown UUID: the index path


def test_a_pinned_child_sees_one_gpu_in_pci_bus_order():
    from bench.measure.device import PINNED_VARIABLE, child_environment, local_device

    env = child_environment("cuda:2", {})
    assert env["CUDA_VISIBLE_DEVICES"] == "2" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert local_device("cuda:2", env) == "cuda:0" and local_device("cuda:2", {}) == "cuda:2"
    assert child_environment("cuda:1", {"CUDA_VISIBLE_DEVICES": "3,5"})["CUDA_VISIBLE_DEVICES"] == "5"
    with pytest.raises(LookupError):
        child_environment("cuda:2", {"CUDA_VISIBLE_DEVICES": "3,5"})
    assert child_environment("cpu", {}) == {} and PINNED_VARIABLE in env


def test_bf16_is_skipped_below_compute_capability_8():
    from types import SimpleNamespace

    from bench.measure.device import bf16_skip_reason

    def fake_torch(capability):
        cuda = SimpleNamespace(get_device_capability=lambda d: capability, get_device_name=lambda d: "Tesla T4")
        return SimpleNamespace(cuda=cuda, device=lambda d: d)

    assert "7.5" in (bf16_skip_reason(fake_torch((7, 5)), "cuda:0") or "")
    assert bf16_skip_reason(fake_torch((8, 0)), "cuda:0") is None

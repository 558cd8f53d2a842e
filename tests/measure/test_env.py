"""Environment capture: complete, JSON-serialisable, fast, and never failing for missing GPU pieces."""

from __future__ import annotations

import hashlib
import json
import os
import time
from importlib.metadata import version

import pytest

import bench
from bench.measure.env import ENV_KEYS, SPEC_KEYS, capture_environment, file_sha256, gpu_name_for
from bench.measure.samplers.fake_pynvml import FakeDevice, FakeNvml, NVMLError_LibraryNotFound
from bench.spec import RunSpec

GIB = 1024**3


def test_cpu_capture_has_every_key_and_round_trips_through_json():
    capture_environment("cpu")  # first call pays for lazy imports
    start = time.perf_counter()
    env = capture_environment("cpu")
    elapsed_s = time.perf_counter() - start
    assert elapsed_s < 0.5
    assert set(env) == set(ENV_KEYS)
    assert json.loads(json.dumps(env)) == env
    assert env["torch_version"] == version("torch")
    assert env["diffusers_version"] == version("diffusers")
    assert env["transformers_version"] == version("transformers")
    assert env["accelerate_version"] == version("accelerate")
    assert env["numpy_version"] == version("numpy")
    assert env["kbench_version"] == bench.__version__
    assert env["cpu_count"] == os.cpu_count() and env["ram_gb"] > 0
    assert env["device"] == "cpu" and env["gpu_name"] is None and env["gpu_index"] is None


def test_cuda_capture_reads_the_gpu_through_nvml(monkeypatch):
    nvml = FakeNvml(
        [FakeDevice(), FakeDevice(name="Fake GPU B", uuid="GPU-bbbb", memory_total_b=80 * GIB, power_limit_mw=700_000)],
        driver_version="555.42.06",
        cuda_driver_version=12050,
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    env = capture_environment("cuda:0", nvml_module=nvml)
    assert {k: env[k] for k in ("gpu_index", "gpu_name", "gpu_uuid", "gpu_memory_total_mb", "power_limit_w")} == {
        "gpu_index": 1,
        "gpu_name": "Fake GPU B",
        "gpu_uuid": "GPU-bbbb",
        "gpu_memory_total_mb": 81920.0,
        "power_limit_w": 700.0,
    }
    assert env["driver_version"] == "555.42.06" and env["cuda_driver_version"] == "12.5"
    assert env["cuda_visible_devices"] == "1"
    assert nvml.init_count == 0
    assert json.loads(json.dumps(env)) == env
    assert gpu_name_for("cuda:0", nvml_module=nvml) == "Fake GPU B"
    assert gpu_name_for("cpu", nvml_module=nvml) is None


def test_cuda_capture_without_driver_leaves_gpu_facts_empty():
    env = capture_environment("cuda", nvml_module=FakeNvml(init_error=NVMLError_LibraryNotFound))
    assert set(env) == set(ENV_KEYS)
    assert env["gpu_name"] is None and env["driver_version"] is None
    assert gpu_name_for("cuda", nvml_module=FakeNvml(init_error=NVMLError_LibraryNotFound)) is None


def test_one_failing_query_does_not_hide_the_others():
    class NoPowerLimit(FakeNvml):
        def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
            raise self.NVMLError_NotSupported()  # type: ignore[attr-defined]

    nvml = NoPowerLimit([FakeDevice(name="Fake GPU")])
    env = capture_environment("cuda", nvml_module=nvml)
    assert env["power_limit_w"] is None and env["gpu_name"] == "Fake GPU"


def test_spec_adds_what_ran_and_the_scenario_hash(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\n", encoding="utf-8")
    spec = RunSpec(
        scenario="s",
        scenario_file=str(scenario),
        model="kandinsky-3",
        task="text2img",
        weights="tiny",
        width=64,
        height=64,
        steps=2,
        guidance_scale=3.0,
        dtype="fp32",
        device="cpu",
        memory="attention_slicing",
    )
    env = capture_environment("cpu", spec=spec)
    assert set(env) == set(ENV_KEYS) | set(SPEC_KEYS)
    assert (env["dtype"], env["memory"], env["weights"]) == ("fp32", "attention_slicing", "tiny")
    assert env["scenario_sha256"] == hashlib.sha256(b"name: s\n").hexdigest() == file_sha256(scenario)
    stated = spec.model_copy(update={"scenario_sha256": "ab" * 32})
    assert capture_environment("cpu", spec=stated)["scenario_sha256"] == "ab" * 32
    assert file_sha256(tmp_path / "missing.yaml") is None


@pytest.mark.gpu
def test_real_gpu_capture():
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        pytest.skip("needs an NVIDIA GPU with NVML")
    env = capture_environment("cuda")
    assert env["gpu_name"] and env["driver_version"] and env["gpu_memory_total_mb"] > 0

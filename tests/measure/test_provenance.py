"""What a GPU result needs to be evidence: the commit under test, the GPU's link and limits, torch's settings."""

from __future__ import annotations

import subprocess

import torch

from bench.compare.engine import compare_records
from bench.measure.env import ENV_KEYS, capture_environment
from bench.measure.provenance import git_state, torch_settings
from bench.measure.samplers.fake_pynvml import FakeDevice, FakeNvml
from tests.cost import make_record


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_git_state_of_a_repository_and_of_a_plain_directory(tmp_path):
    assert git_state(tmp_path) == (None, None, None)
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "one")
    commit, branch, dirty = git_state(tmp_path)
    assert len(commit or "") == 40 and branch == "main" and dirty is False
    (tmp_path / "a.txt").write_text("2")
    assert git_state(tmp_path)[2] is True


def test_the_environment_names_the_gpu_link_limits_and_settings():
    nvml = FakeNvml(devices=[FakeDevice(pcie=(3, 8), power_limit_mw=250_000)])
    env = capture_environment("cuda", nvml_module=nvml)
    assert set(ENV_KEYS) <= set(env)
    assert env["pcie_link"] == "Gen3 x8" and env["pcie_width_max"] == 16  # trained below the slot: offload slows
    assert env["power_limit_w"] == 250.0 and env["persistence_mode"] is True
    assert env["gpu_pci_bus_id"] == "00000000:01:00.0"
    assert env["tf32_matmul"] == torch.backends.cuda.matmul.allow_tf32
    assert "math" in (torch_settings()["sdpa_backends"] or "")


def _with_env(**env):
    record = make_record(median_s=4.0)
    return record.model_copy(update={"env": {**record.env, **env}})


def test_compare_warns_on_a_changed_power_limit_or_pcie_link_and_refuses_another_gpu():
    base = [_with_env(power_limit_w=450.0, pcie_link="Gen4 x16")]
    cur = [_with_env(power_limit_w=300.0, pcie_link="Gen4 x8")]
    report = compare_records(base, cur)
    labels = {ch.field: (ch.baseline, ch.current) for ch in report.env_changes}
    assert labels["power limit (W)"] == ("450.0", "300.0") and labels["PCIe link"] == ("Gen4 x16", "Gen4 x8")
    assert not any(ch.blocking for ch in report.env_changes)

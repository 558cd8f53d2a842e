"""``--executor gpus`` with a fake device count: real child processes, each pinned to its worker's GPU.

There is no GPU here, so the CUDA runs are skipped by their child, which still records the pinning it was
started with; the hooks log when each child ran."""

from __future__ import annotations

import os
import threading

import pytest

from bench.errors import KbenchError
from bench.measure.executors import make_executor
from bench.measure.executors.base import FanoutGuard, Job
from bench.measure.executors.gpus import Gpu, GpusExecutor, _Pool, can_take, static_devices
from bench.results import read_results
from tests.conftest import REPO
from tests.factories import tiny_spec
from tests.measure.executors.hooks import overlapping, read_log, set_control, write_site


def _spec(**kw):
    return tiny_spec(**{"steps": 1, "prior_steps": 2, "warmup": 0, "repeats": 1, "max_repeats": 1, **kw})


@pytest.fixture
def hooks(tmp_path, monkeypatch):
    folder = tmp_path / "hooks"
    folder.mkdir()
    monkeypatch.setenv("PYTHONPATH", f"{write_site(folder)}{os.pathsep}{REPO}")
    monkeypatch.setenv("KB_HOOKS", str(folder))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return folder


def test_two_fake_gpus_run_in_parallel_each_child_pinned(hooks, tmp_path):
    set_control(hooks, {lang: {"sleep": 2} for lang in ("en", "de", "ru")})
    specs = [
        _spec(device="cuda"),
        _spec(device="cuda", language="de"),
        _spec(device="cuda:1", language="ru"),  # only GPU 1 may take it
        _spec(device="cuda", language="zh", gpu="A100"),  # no A100 among the fakes
    ]
    outcome = GpusExecutor(static_devices(2, "Fake GPU")).sweep(specs, tmp_path / "r.jsonl")
    records = {r.spec.language: r for r in read_results([tmp_path / "r.jsonl"])}
    assert set(records) == {"en", "de", "ru", "zh"} and not outcome.interrupted
    assert "needs a GPU named like A100" in (records["zh"].reason or "") and "0: Fake GPU" in (
        records["zh"].reason or ""
    )
    children = {str(c["lang"]): c for c in read_log(hooks)}
    assert set(children) == {"en", "de", "ru"}
    for lang in ("en", "de", "ru"):
        placement = records[lang].placement or {}
        assert placement["executor"] == "gpus" and placement["gpu_name"] == "Fake GPU"
        assert children[lang]["cvd"] == placement["cuda_visible_devices"] == str(placement["gpu_index"])
        assert records[lang].env["cuda_visible_devices"] == placement["cuda_visible_devices"]
        assert records[lang].env["cuda_device_order"] == "PCI_BUS_ID"
        assert records[lang].spec.device == specs[["en", "de", "ru"].index(lang)].device  # as the user asked
    assert (records["ru"].placement or {})["gpu_index"] == 1
    assert {(records[lang].placement or {})["gpu_index"] for lang in ("en", "de")} == {0, 1}
    first_two = [children["en"], children["de"]]
    assert overlapping(*first_two)  # one run per GPU at the same time


def test_no_gpu_is_a_one_line_error():
    with pytest.raises(KbenchError, match="no NVIDIA GPU is visible"):
        GpusExecutor(static_devices(0)).sweep([_spec(device="cuda")], "unused.jsonl")
    with pytest.raises(KbenchError, match="apply to --executor ray only"):
        make_executor("gpus", ray_num_cpus=2)
    with pytest.raises(KbenchError, match="allowed: local, gpus, ray"):
        make_executor("slurm")


def test_matching_and_one_cpu_run_at_a_time():
    a100, other = Gpu(0, "0", "NVIDIA A100-SXM4-80GB"), Gpu(1, "3", "NVIDIA L4")
    assert can_take(a100, _spec(device="cuda", gpu="a100")) and not can_take(other, _spec(device="cuda", gpu="A100"))
    assert can_take(other, _spec(device="cuda:1")) and not can_take(a100, _spec(device="cuda:1"))
    cpu_a, cpu_b, gpu_run = Job(_spec()), Job(_spec(language="de")), Job(_spec(device="cuda", language="ru"))
    pool = _Pool([cpu_a, cpu_b, gpu_run], FanoutGuard())
    assert pool.take(a100) is cpu_a
    assert pool.take(other) is gpu_run  # the other CPU run waits for the first: they would share the cores
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pool.take(other)))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive() and not got
    pool.release(cpu_a.spec)
    waiter.join(timeout=5)
    assert got == [cpu_b]


def test_executor_mistakes_are_one_line_exit_2(write_yaml, tmp_path):
    from tests.conftest import run_kbench

    scenario = write_yaml("name: s\nweights: tiny\ndevice: cpu\nmodels: [kandinsky-3]\nresolutions: [64x64]\n")
    out = str(tmp_path / "r.jsonl")
    for args, message in (
        (["--ray-num-cpus", "2"], "apply to --executor ray only, not 'local'"),
        (["--executor", "gpus"], "no NVIDIA GPU is visible"),  # this machine has none
        (["--executor", "ray", "--ray-num-cpus", "0"], "--ray-num-cpus: must be a number of CPUs > 0"),
    ):
        done = run_kbench("run", str(scenario), "--out", out, "--no-report", *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "r.jsonl").exists()

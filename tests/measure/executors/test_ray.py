"""``--executor ray`` against a real local Ray cluster (2 CPUs, 2 fake GPUs: Ray assigns CUDA_VISIBLE_DEVICES
per task without any GPU), started once for the module. Runs are tiny CPU runs, or CUDA runs that the child
skips at once on this GPU-less machine (Ray still assigns each its GPU id)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from bench.measure.executors import run_sweep
from bench.measure.executors.ray import RayExecutor
from bench.measure.interrupts import handlers_kept
from bench.results import read_results
from tests.conftest import REPO
from tests.factories import tiny_spec
from tests.measure.executors.hooks import overlapping, read_log, set_control, write_site

ray = pytest.importorskip("ray")


def _spec(**kw):
    return tiny_spec(**{"steps": 1, "prior_steps": 2, "warmup": 0, "repeats": 1, "max_repeats": 1, **kw})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    hooks = tmp_path_factory.mktemp("hooks")
    site = write_site(hooks)
    with pytest.MonkeyPatch.context() as mp, handlers_kept():  # ray.init takes the process's SIGTERM for good
        mp.setenv("PYTHONPATH", f"{site}{os.pathsep}{REPO}")
        mp.setenv("KB_HOOKS", str(hooks))
        ray.init(
            num_cpus=2,
            num_gpus=2,
            include_dashboard=False,
            log_to_driver=False,
            resources={"accelerator_type:A100": 1},
        )
        try:
            yield hooks, ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()


def test_ray_gives_the_keys_and_statuses_of_local(cluster, tmp_path):
    hooks, _ = cluster
    set_control(hooks, {})
    specs = [_spec(), _spec(memory="model_cpu_offload"), _spec(device="cuda", language="de")]
    local = run_sweep(specs, tmp_path / "local.jsonl")
    remote = RayExecutor(num_cpus=1).sweep(specs, tmp_path / "ray.jsonl")
    got = {(r.run_key, r.status) for r in read_results([tmp_path / "ray.jsonl"])}
    assert got == {(r.run_key, r.status) for r in local.records}
    assert sorted(s for _, s in got) == ["ok", "skipped", "skipped"]
    ran = {r.run_key: r for r in remote.records}[specs[0].run_key]
    assert ran.summary is not None and ran.summary.n == 1
    assert ran.placement is not None and ran.placement["executor"] == "ray" and ran.placement["node_id"]
    assert ran.placement["worker_pid"] != os.getpid()  # a Ray worker ran it, not this process
    assert ran.placement["reserved_cpus"] == ran.placement["omp_num_threads"] == "1"  # torch threads follow
    assert all(r.placement is None for r in local.records)  # the local sweep is unchanged


def test_each_gpu_task_sees_its_own_device(cluster, tmp_path):
    hooks, _ = cluster
    set_control(hooks, {"en": {"sleep": 5}, "de": {"sleep": 5}})
    specs = [
        _spec(device="cuda"),
        _spec(device="cuda:1", language="de"),
        _spec(device="cuda", language="zh", gpu="H100"),
    ]
    outcome = RayExecutor(num_cpus=1).sweep(specs, tmp_path / "r.jsonl")
    by_lang = {r.spec.language: r for r in outcome.records}
    assert "accelerator_type H100" in (by_lang["zh"].reason or "") and "A100" in (by_lang["zh"].reason or "")
    children = {str(c["lang"]): c for c in read_log(hooks)}
    assert set(children) == {"en", "de"} and overlapping(children["en"], children["de"])
    ids = set()
    for lang in ("en", "de"):
        record = by_lang[lang]
        assert record.status == "skipped" and "CUDA" in (record.reason or "")  # no GPU here; the child decided
        placement = record.placement or {}
        ids.add(placement["gpu_ids"])
        assert children[lang]["cvd"] == placement["cuda_visible_devices"] == placement["gpu_ids"]
        assert record.env["cuda_visible_devices"] == placement["gpu_ids"]  # what the measuring child saw
    assert ids == {"0", "1"}  # two tasks at once: two different GPUs


def test_accelerator_type_is_requested_from_the_scenario_gpu_field(cluster, tmp_path):
    hooks, _ = cluster
    set_control(hooks, {})
    assert RayExecutor().options(_spec(device="cuda", gpu="A100")) == {
        "num_cpus": 2.0,
        "num_gpus": 1,
        "max_retries": 0,
        "accelerator_type": "A100",
    }
    assert RayExecutor().options(_spec(cpu_threads=2))["num_cpus"] == 2
    outcome = RayExecutor(num_cpus=1).sweep([_spec(device="cuda", gpu="A100")], tmp_path / "r.jsonl")
    assert [r.status for r in outcome.records] == ["skipped"] and "CUDA" in (outcome.records[0].reason or "")


def test_a_killed_worker_is_recorded_and_retried_and_the_sweep_finishes(cluster, tmp_path):
    hooks, _ = cluster
    set_control(hooks, {"ru": {"hang_once": True}})
    killed: list[int] = []

    def kill_the_worker() -> None:
        marker = hooks / "hung-ru"
        deadline = time.monotonic() + 90
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if marker.exists():
            pid = int(marker.read_text())
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    specs = [_spec(device="cuda", language="ru"), _spec(device="cuda", language="en")]
    outcome = RayExecutor(num_cpus=1).sweep(specs, tmp_path / "r.jsonl")
    killer.join()
    assert killed and not outcome.interrupted
    ru = [r for r in read_results([tmp_path / "r.jsonl"]) if r.spec.language == "ru"]
    assert [r.status for r in ru] == ["error", "skipped"]
    assert "worker or node died" in (ru[0].reason or "") and "run again once" in (ru[0].reason or "")
    assert [(r.placement or {}).get("attempt") for r in ru] == [1, 2]
    assert {r.spec.language for r in outcome.records} == {"ru", "en"}
    assert outcome.failed == []  # the retry's outcome is the run's: a worker that died once is not a failure


def test_resume_after_the_driver_is_killed(cluster, tmp_path, write_yaml):
    hooks, address = cluster
    set_control(hooks, {"en": {"sleep": 2}})
    scenario = write_yaml(
        """
        name: resume
        weights: tiny
        device: cuda
        models: [kandinsky-3]
        resolutions: [64x64]
        steps: 1
        warmup: 0
        repeats: 1
        languages: [en, de, ru]
        """
    )
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "bench", "run", str(scenario), "--executor", "ray", "--ray-address", address]
    cmd += ["--ray-num-cpus", "2", "--out", str(out), "--no-report"]  # 2 CPUs each: one task at a time
    log = open(tmp_path / "driver.log", "wb")  # noqa: SIM115
    driver = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.1)
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
        log.close()
    first = read_results([out])
    assert len(first) == 1
    again = subprocess.run([*cmd, "--resume"], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resume: 1 run(s)" in again.stdout
    records = read_results([out])
    assert sorted(r.spec.language for r in records) == ["de", "en", "ru"]  # each run once, the first kept
    assert records[0].model_dump() == first[0].model_dump()
    assert all(r.placement and r.placement["executor"] == "ray" for r in records)


def test_sigterm_cancels_outstanding_tasks_and_keeps_finished_records(cluster, tmp_path, write_yaml):
    hooks, address = cluster
    set_control(hooks, {"de": {"sleep": 60}})
    scenario = write_yaml(
        "name: term\nweights: tiny\ndevice: cuda\nmodels: [kandinsky-3]\nresolutions: [64x64]\nsteps: 1\n"
        "warmup: 0\nrepeats: 1\nlanguages: [en, de]\n"
    )
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "bench", "run", str(scenario), "--executor", "ray", "--ray-address", address]
    driver = subprocess.Popen(
        [*cmd, "--ray-num-cpus", "1", "--out", str(out), "--no-report"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 1 and len(read_log(hooks)) == 2:
                break
            time.sleep(0.1)
        driver.send_signal(signal.SIGTERM)
        _, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 143, err
    records = {r.spec.language: r for r in read_results([out])}
    assert records["en"].status == "skipped"  # finished before the signal: kept
    assert records["de"].status == "interrupted" and "SIGTERM" in (records["de"].reason or "")
    assert "--resume" in err
    hung = next(c for c in read_log(hooks) if c["lang"] == "de")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(int(hung["pid"])):
        time.sleep(0.1)
    assert not _alive(int(hung["pid"]))  # its worker was killed (ray.cancel force), and the child with it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        return f.read().split(")")[-1].split()[0] != "Z"

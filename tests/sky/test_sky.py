"""``kbench sky plan`` and ``sky collect``: task files checked against SkyPilot's documented task schema
(``skypilot_task.schema.json``; SkyPilot itself is not installed), the run script executed by bash, the
campaign arithmetic by hand, and merging real results files."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from bench.cost.catalog import load_catalog
from bench.cost.projection import estimate_workload
from bench.results import append_record, read_results
from bench.scenario import load_scenarios
from bench.sky.accelerators import SKY_ACCELERATORS, SkyAccelerator
from bench.sky.campaign import RUN_OVERHEAD_S, estimate_campaign, run_seconds, top_gpus
from bench.sky.plan import PlanOptions, launch_commands, remote_scenario_path, render_task, task_document
from bench.spec import Workload
from tests.conftest import REPO, run_kbench
from tests.factories import tiny_spec

SCHEMA = json.loads((Path(__file__).parent / "skypilot_task.schema.json").read_text(encoding="utf-8"))
K22 = """
name: k22
weights: random
device: cuda
models: [kandinsky-2.2]
resolutions: [512x512, 768x768]
steps: 50
repeats: 3
max_repeats: 10
"""


def _gpu_spec(**kw):
    return tiny_spec(**{"weights": "random", "device": "cuda", "width": 512, "height": 512, "steps": 50, **kw})


def test_run_seconds_by_hand():
    catalog = load_catalog()
    spec = _gpu_spec(warmup=1, repeats=3, max_repeats=10, max_time_s=600.0, batch_size=2)
    est = estimate_workload(Workload.from_spec(spec), catalog, gpu_ids=["a100-80gb-sxm"])[0]
    lo, hi = est.s_per_image_interval or (0.0, 0.0)
    got = run_seconds(spec, est, load_s=5.0)
    call = est.s_per_image * 2  # two images a call
    assert got.mid == pytest.approx(RUN_OVERHEAD_S + 5.0 + (1 + 3) * call)
    assert got.low == pytest.approx(RUN_OVERHEAD_S + 5.0 + 4 * lo * 2)
    assert got.high == pytest.approx(RUN_OVERHEAD_S + 5.0 + 11 * hi * 2)  # adaptive: up to max_repeats
    capped = run_seconds(spec.model_copy(update={"timeout_s": 30.0}), est, load_s=5.0)
    assert capped.high == 30.0  # a run is killed at its timeout
    too_big = est.__class__(**{**est.__dict__, "fits": False})
    assert run_seconds(spec, too_big, 5.0).high == RUN_OVERHEAD_S + 5.0  # it stops at the load (oom)


def test_campaign_and_top(write_yaml):
    specs = load_scenarios([write_yaml(K22)])
    catalog = load_catalog()
    one = estimate_campaign(specs, catalog, "l4", setup_minutes=10.0)
    seconds = [run_seconds(s, estimate_workload(Workload.from_spec(s), catalog, gpu_ids=["l4"])[0], 0.0) for s in specs]
    assert one.runs == 2 and one.minutes.mid > 10.0 + sum(s.mid for s in seconds) / 60.0  # plus the load
    assert one.minutes.low <= one.minutes.mid <= one.minutes.high
    assert one.usd is not None and one.usd.mid == pytest.approx(one.minutes.mid / 60 * (one.usd_per_hour or 0))
    top = top_gpus(specs, catalog, 2)
    assert len(top) == 2 and all(not estimate_campaign(specs, catalog, g).oom_runs for g in top)
    with pytest.raises(Exception, match="no CUDA run"):
        estimate_campaign([tiny_spec()], catalog, "l4")


def test_every_task_file_matches_skypilot_schema_and_its_run_script_works(tmp_path, write_yaml):
    scenario = write_yaml(K22)
    for gpu_id, accel in SKY_ACCELERATORS.items():
        for bucket in (None, "my-bucket"):
            doc = task_document(scenario, "k22", gpu_id, accel, PlanOptions(REPO, bucket=bucket, use_spot=True))
            parsed = yaml.safe_load(render_task(doc))
            assert parsed == doc
            jsonschema.validate(parsed, SCHEMA)
            assert parsed["resources"]["accelerators"] == f"{accel.name}:1"
    bad = task_document(scenario, "k22", "l4", SkyAccelerator("L4"), PlanOptions(REPO))
    bad["resources"]["gpus"] = "L4"  # not a SkyPilot resources key: the schema must say so
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    # The run script, under bash, with a stand-in kbench that records its arguments and exits 3.
    doc = task_document(scenario, "k22", "l4", SKY_ACCELERATORS["l4"], PlanOptions(REPO))
    home = tmp_path / "home"
    fake = home / "kbench-venv" / "bin" / "kbench"
    fake.parent.mkdir(parents=True)
    fake.write_text(
        '#!/bin/sh\necho "$@" >> "$HOME/args"\nwhile [ "$1" != --out ]; do shift; done\necho x >> "$2"\nexit 3\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **doc["envs"]}
    for _ in range(2):
        done = subprocess.run(["bash", "-c", doc["run"]], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 3  # the sweep's exit code is the task's
    first, second = (home / "args").read_text().splitlines()
    out = f"{home}/kbench-results/k22-l4.jsonl"
    assert first.split() == [
        "run",
        f"{home}/kbench-scenarios/{scenario.name}",
        "--executor",
        "local",
        "--out",
        out,
        "--no-report",
        "--allow-failures",
    ]
    assert "--resume" not in first and "--resume" in second.split()  # a rerun finishes what is there
    assert Path(out).read_text() == "x\nx\n"


def test_plan_command_writes_tasks_and_prints_the_campaign(tmp_path, write_yaml):
    scenario = write_yaml(K22)
    out = tmp_path / "plan"
    done = run_kbench(
        "sky",
        "plan",
        str(scenario),
        "--gpu",
        "rtx4090",
        "--gpu",
        "a100-80gb",
        "--out",
        str(out),
        "--bucket",
        "kb-results",
        "--markdown",
    )
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in out.glob("*.yaml"))
    assert files == ["kbench-scenario-a100-80gb-sxm.yaml", "kbench-scenario-rtx4090.yaml"]
    for name in files:
        doc = yaml.safe_load((out / name).read_text())
        jsonschema.validate(doc, SCHEMA)
        assert Path(doc["file_mounts"][f"~/kbench-scenarios/{scenario.name}"]) == scenario.resolve()
        assert doc["file_mounts"]["/kbench-results"] == {"name": "kb-results", "store": "s3", "mode": "MOUNT"}
        assert (Path(doc["workdir"]) / "pyproject.toml").is_file()
    rows = [line.split("|") for line in done.stdout.splitlines() if line.startswith("| ")]
    by_gpu = {r[1].strip(): r for r in rows}
    assert by_gpu["a100-80gb-sxm"][2].strip() == "A100-80GB:1"
    mid = [float(by_gpu[g][5].split()[0]) for g in ("rtx4090", "a100-80gb-sxm")]
    assert float(by_gpu["total"][5].split()[0]) == pytest.approx(sum(mid), abs=1.0)  # rounded per row
    assert "kbench sky collect" in done.stdout and "sky launch -y -c kbench-scenario-rtx4090 --down" in done.stdout
    ambiguous = run_kbench("sky", "plan", str(scenario), "--gpu", "h100", "--out", str(tmp_path / "p2"))
    assert ambiguous.returncode == 2 and "h100-pcie, h100-sxm" in ambiguous.stderr
    assert len(ambiguous.stderr.strip().splitlines()) == 1 and not (tmp_path / "p2").exists()


def test_collect_merges_validated_records_once(tmp_path):
    returned = tmp_path / "plan" / "results"
    returned.mkdir(parents=True)
    a = tiny_spec()
    records = [
        _record(a, "2026-01-01T00:00:00+00:00"),
        _record(a.model_copy(update={"language": "de"}), "2026-01-01T00:01:00+00:00"),
    ]
    append_record(returned / "x-l4.jsonl", records[0])
    append_record(returned / "x-l4.jsonl", records[1])
    append_record(returned / "copy.jsonl", records[0])  # the same run, returned twice
    merged = tmp_path / "merged.jsonl"
    before = {p: p.read_bytes() for p in returned.iterdir()}
    done = run_kbench("sky", "collect", str(tmp_path / "plan"), "--out", str(merged))
    assert done.returncode == 0, done.stderr
    assert [r.spec.language for r in read_results([merged])] == ["en", "de"]
    assert {p: p.read_bytes() for p in returned.iterdir()} == before  # inputs untouched
    again = run_kbench("sky", "collect", str(tmp_path / "plan"), "--out", str(merged))
    assert again.returncode == 2 and "exists" in again.stderr  # never written over
    (returned / "bad.jsonl").write_text('{"schema_version": 1, "run_key": 3}\n{"schema_version": 1}\n')
    broken = run_kbench("sky", "collect", str(tmp_path / "plan"), "--out", str(tmp_path / "m2.jsonl"))
    assert broken.returncode == 2 and "bad.jsonl:1" in broken.stderr and not (tmp_path / "m2.jsonl").exists()


def _record(spec, started):
    from bench.measure.runner import parent_record

    return parent_record(spec, "skipped", "no GPU here", started)


HOSTILE_NAMES = ["k3;touch PWNED;#.yaml", "a b.yaml", "$(touch SUBST).yaml", "it's `touch TICK`.yml", "-rf.yaml"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_scenario_name_never_reaches_a_shell(tmp_path, name):
    """The generated ``run:`` script, executed by bash with a stand-in kbench that writes its argument vector
    one per line: the scenario is the one argument it should be, nothing else ran, ``--out`` is still there.
    The printed commands split back (``shlex``) into the paths they name."""
    scenario = tmp_path / "in" / name
    scenario.parent.mkdir()
    scenario.write_text(K22, encoding="utf-8")
    doc = task_document(scenario, scenario.stem, "l4", SKY_ACCELERATORS["l4"], PlanOptions(REPO, bucket="my.bucket-1"))
    assert next(iter(doc["file_mounts"])) == remote_scenario_path(scenario)
    home = tmp_path / "home"
    fake = home / "kbench-venv" / "bin" / "kbench"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$HOME/argv"\nexit 0\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **doc["envs"]}
    done = subprocess.run(["bash", "-c", doc["run"]], env=env, cwd=cwd, capture_output=True, text=True, timeout=30)
    argv = (home / "argv").read_text().splitlines()
    remote = remote_scenario_path(scenario).replace("~", str(home))
    assert argv[:2] == ["run", remote] and "--out" in argv and argv[-1] == "--allow-failures", (argv, done.stderr)
    assert list(cwd.iterdir()) == [] and not (home / "PWNED").exists()  # nothing the name said was run
    task_file = tmp_path / "out dir" / f"task {name}"
    for command in launch_commands(task_file, doc, tmp_path / "res ults", None):
        words = shlex.split(command)
        assert str(task_file) in words or str(tmp_path / "res ults") + "/" in words or words[:2] == ["sky", "down"]


@pytest.mark.parametrize("bucket", ["My_Bucket", "b\nrm -rf ~", "ab", "-bucket", "x" * 64])
def test_a_bucket_name_the_stores_refuse_is_one_line_before_any_file(tmp_path, write_yaml, bucket):
    scenario = write_yaml(K22)
    with pytest.raises(ValueError, match="is not a bucket name"):
        task_document(scenario, "k22", "l4", SKY_ACCELERATORS["l4"], PlanOptions(REPO, bucket=bucket))
    proc = run_kbench("sky", "plan", str(scenario), "--gpu", "l4", "--out", str(tmp_path / "o"), "--bucket", bucket)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "--bucket" in proc.stderr
    assert not (tmp_path / "o").exists()

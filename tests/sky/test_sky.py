"""``kbench sky plan`` and ``sky collect``: task files checked against SkyPilot's documented task schema
(``skypilot_task.schema.json``; SkyPilot itself is not installed), the run script executed by bash, the
campaign arithmetic by hand, and merging real results files."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from bench.cost.catalog import load_catalog
from bench.cost.projection import estimate_workload
from bench.errors import KbenchError
from bench.prompts import load_prompt_set
from bench.results import ErrorInfo, append_record, dump_record, read_results
from bench.scenario import load_scenarios
from bench.sky.accelerators import SKY_ACCELERATORS, SkyAccelerator, parse_accelerator_overrides
from bench.sky.campaign import RUN_OVERHEAD_S, estimate_campaign, run_seconds, top_gpus
from bench.sky.plan import (
    PlanOptions,
    check_local_source,
    launch_commands,
    remote_scenario_path,
    render_task,
    task_document,
)
from bench.sky.ship import plan_shipment
from bench.spec import Workload
from bench.text import printable
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
            assert parsed["resources"]["accelerators"] == f"{accel.name}:1" == accel.resources
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
        "a100-80gb-sxm",
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
    opts = PlanOptions(REPO, bucket="my.bucket-1")
    if "'" in name:  # SkyPilot's own rsync would hand it to a shell double-quoted: refused, one line
        with pytest.raises(ValueError, match="cannot be shipped"):
            task_document(scenario, scenario.stem, "l4", SKY_ACCELERATORS["l4"], opts)
        proc = run_kbench("sky", "plan", str(scenario), "--gpu", "l4", "--out", str(tmp_path / "o"))
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "cannot be shipped" in proc.stderr and not (tmp_path / "o").exists()
        return
    doc = task_document(scenario, scenario.stem, "l4", SKY_ACCELERATORS["l4"], opts)
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


def _skypilot_accelerators(text: str) -> dict[str, int | float]:
    """``resources.accelerators`` given as a string, read as SkyPilot reads it (transcribed from
    ``Resources._set_accelerators`` in ``sky/resources.py``): ``NAME`` or ``NAME:COUNT``, a positive count."""
    if ":" not in text:
        return {text: 1}
    splits = text.split(":")
    if len(splits) != 2:
        raise ValueError("should be <name> or <name>:<cnt>")
    num = float(splits[1])
    count = int(num) if num.is_integer() else num
    if count <= 0:
        raise ValueError("Accelerator count must be a positive number")
    return {splits[0]: count}


def test_an_accelerator_count_given_is_kept_and_billed(tmp_path, write_yaml):
    """``--accelerator rtx4090=RTX4090:8`` used to become ``RTX4090:8:1``, which SkyPilot refuses at launch."""
    scenario = write_yaml(K22)
    seen = {}
    for value in ("RTX4090:8", "RTX4090"):
        out = tmp_path / value.replace(":", "-")
        done = run_kbench(
            *("sky", "plan", str(scenario), "--gpu", "rtx4090", "--out", str(out)),
            *("--accelerator", f"rtx4090={value}", "--markdown"),
        )
        assert done.returncode == 0, done.stderr
        doc = yaml.safe_load((out / "kbench-scenario-rtx4090.yaml").read_text())
        jsonschema.validate(doc, SCHEMA)
        row = next(line.split("|") for line in done.stdout.splitlines() if line.startswith("| rtx4090"))
        seen[value] = (doc["resources"]["accelerators"], row[2].strip(), float(row[6]))
    assert seen["RTX4090:8"][:2] == ("RTX4090:8", "RTX4090:8")  # the user's count, in the task and the table
    assert seen["RTX4090"][:2] == ("RTX4090:1", "RTX4090:1")  # a bare name: one GPU
    assert seen["RTX4090:8"][2] == pytest.approx(8 * seen["RTX4090"][2], rel=0.02)  # $/h of the 8-GPU machine
    for value, expected in [
        ("A100-80GB:2", "A100-80GB:2"),
        ("L4:0.5", "L4:0.5"),
        ("H100:08", "H100:8"),
        ("T4", "T4:1"),
    ]:
        accel = parse_accelerator_overrides([f"x={value}"])["x"]
        assert accel.resources == expected
        assert _skypilot_accelerators(accel.resources) == _skypilot_accelerators(value)  # SkyPilot reads the same
    assert parse_accelerator_overrides(["x=L4:0.5"])["x"].gpus == 1  # a fraction of a GPU still rents one


@pytest.mark.parametrize("value", ["RTX4090:0", "RTX4090:x", "RTX4090:8:1", "", "RTX4090:", ":8", "RTX4090:-1"])
def test_an_accelerator_skypilot_refuses_is_one_line(value):
    if value.count(":") == 1 and value.split(":")[0]:
        with pytest.raises(ValueError):
            _skypilot_accelerators(value)  # SkyPilot refuses it too
    with pytest.raises(KbenchError) as err:
        parse_accelerator_overrides([f"rtx4090={value}"])
    message = str(err.value)
    assert message.startswith(f"--accelerator 'rtx4090={value}': ") and "\n" not in message
    assert "GPU_ID=NAME:COUNT" in message and "positive number" in message  # what is allowed


def test_an_accelerator_skypilot_refuses_exits_2_before_any_file(tmp_path, write_yaml):
    scenario = write_yaml(K22)
    out = tmp_path / "o"
    for bad in ("rtx4090=RTX4090:8:1", "rtx4090=80GB:1"):  # 80GB: SkyPilot's "any GPU with 80 GB", no one GPU
        done = run_kbench("sky", "plan", str(scenario), "--gpu", "rtx4090", "--out", str(out), "--accelerator", bad)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "--accelerator" in done.stderr and not out.exists()


SHIPPING = """
defaults:
  device: cuda
  models: [kandinsky-2.2]
  resolutions: [512x512]
  steps: 50
  repeats: 3
  prompt_set: prompts/my prompts.txt
scenarios:
  - name: random
    weights: random
  - name: local-hub
    weights: hub
    hub: {decoder: ./models/k22 decoder}
"""


def _shipping_project(tmp_path: Path) -> Path:
    """A folder holding a scenario that references a prompt file and a local model folder, relatively."""
    work = tmp_path / "work"
    (work / "prompts").mkdir(parents=True)
    (work / "prompts" / "my prompts.txt").write_text("a red cube\na blue sphere\n", encoding="utf-8")
    model = work / "models" / "k22 decoder"
    (model / "unet").mkdir(parents=True)
    (model / "model_index.json").write_text("{}", encoding="utf-8")
    (model / "unet" / "config.json").write_text("{}", encoding="utf-8")
    (work / "scen.yaml").write_text(SHIPPING, encoding="utf-8")
    return work


def test_a_prompt_set_and_a_local_model_folder_ship_with_the_task(tmp_path):
    """They used to stay behind: the task failed on the rented machine, after its paid set-up."""
    work = _shipping_project(tmp_path)
    done = run_kbench("sky", "plan", "scen.yaml", "--gpu", "l4", "--out", "plan", cwd=work)
    assert done.returncode == 0, done.stderr
    doc = yaml.safe_load((work / "plan" / "kbench-scen-l4.yaml").read_text())
    jsonschema.validate(doc, SCHEMA)
    mounts = doc["file_mounts"]
    copy = work / "plan" / "kbench-scen.scenario.yaml"
    assert Path(mounts["~/kbench-scenarios/scen.yaml"]) == copy.resolve()  # the scenario naming the mounts
    shipped = yaml.safe_load(copy.read_text())
    prompts, model = shipped["defaults"]["prompt_set"], shipped["scenarios"][1]["hub"]["decoder"]
    assert prompts.startswith("/kbench-inputs/my-prompts-") and prompts.endswith(".txt")
    assert Path(mounts[prompts]) == (work / "prompts" / "my prompts.txt").resolve()
    assert model.startswith("/kbench-inputs/k22-decoder-") and Path(mounts[model]) == (work / "models/k22 decoder")
    assert {**shipped["defaults"], "prompt_set": None} == {**yaml.safe_load(SHIPPING)["defaults"], "prompt_set": None}
    assert "ships 2 file(s) or folder(s)" in done.stdout


def test_the_run_script_reads_the_shipped_scenario_and_its_files(tmp_path, monkeypatch):
    """The task's mounts laid out as SkyPilot lays them (``~`` is ``$HOME``), the local originals moved away,
    and the generated ``run:`` script executed by bash with a kbench that runs the real one with ``--dry-run``:
    the shipped scenario loads there, reading the shipped prompt file, and lists the local scenario's runs."""
    work = _shipping_project(tmp_path)
    monkeypatch.chdir(work)
    scenario = work / "scen.yaml"
    specs = load_scenarios([scenario])
    remote_root = tmp_path / "remote-root"  # stands for the machine's /
    shipment = plan_shipment(scenario, specs, remote_dir=str(remote_root / "kbench-inputs"))
    assert shipment.scenario_text is not None
    copy = work / "plan" / "kbench-scen.scenario.yaml"
    copy.parent.mkdir()
    copy.write_text(shipment.scenario_text, encoding="utf-8")
    doc = task_document(
        scenario, "scen", "l4", SKY_ACCELERATORS["l4"], PlanOptions(REPO), source=copy, inputs=shipment.inputs
    )
    home = tmp_path / "home"
    for remote, local in doc["file_mounts"].items():
        target = Path(remote.replace("~", str(home), 1))
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if Path(local).is_dir() else shutil.copyfile)(local, target)
    (work / "prompts").rename(tmp_path / "gone")  # the machine has only what was shipped
    fake = home / "kbench-venv" / "bin" / "kbench"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\nexec "$KBENCH_PYTHON" -m bench "$@" --dry-run\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    workdir = tmp_path / "sky_workdir"  # the run's working directory: the synced project, not the planning folder
    workdir.mkdir()
    env = {**os.environ, "HOME": str(home), "KBENCH_PYTHON": sys.executable, **doc["envs"]}
    done = subprocess.run(["bash", "-c", doc["run"]], env=env, cwd=workdir, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(line for line in done.stdout.splitlines() if line.startswith("kandinsky-2.2|")) == sorted(
        s.run_key for s in specs
    )
    remote_specs = load_scenarios([home / "kbench-scenarios" / "scen.yaml"])  # as the machine reads it
    assert [s.run_key for s in remote_specs] == [s.run_key for s in specs]
    assert {load_prompt_set("en", s.prompt_set) for s in remote_specs} == {("a red cube", "a blue sphere")}
    assert {Path(s.prompt_set).parent for s in remote_specs} == {remote_root / "kbench-inputs"}
    model = next(s.hub["decoder"] for s in remote_specs if s.weights == "hub")
    assert (Path(model) / "unet" / "config.json").is_file()  # the folder, whole


def test_a_reference_that_cannot_be_shipped_is_one_line_before_any_file(tmp_path, monkeypatch):
    work = _shipping_project(tmp_path)
    scenario = work / "scen.yaml"
    model = work / "models" / "k22 decoder"
    (model / "unet" / "weights.bin").symlink_to(model / "model_index.json")  # a cache snapshot's kind of file
    done = run_kbench("sky", "plan", "scen.yaml", "--gpu", "l4", "--out", "plan", cwd=work)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "scen.yaml: hub.decoder: " in done.stderr and "symbolic link" in done.stderr
    assert not (work / "plan").exists()
    shutil.rmtree(model)
    done = run_kbench("sky", "plan", "scen.yaml", "--gpu", "l4", "--out", "plan", cwd=work)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "hub.decoder: './models/k22 decoder' is not a folder here" in done.stderr
    assert not (work / "plan").exists()
    odd = work / "prompts" / "it's $(touch PWNED).txt"  # SkyPilot's rsync would run what its name says
    (work / "prompts" / "my prompts.txt").rename(odd)
    scenario.write_text(SHIPPING.replace("my prompts.txt", odd.name).replace("./models/k22 decoder", "org/id"))
    monkeypatch.chdir(work)
    with pytest.raises(KbenchError, match=r"scen.yaml: prompt_set: .* cannot be shipped"):
        plan_shipment(scenario, load_scenarios([scenario]))


@pytest.mark.parametrize(
    "name", ["a b", "k3;touch PWNED;#", "$(touch SUBST)", "it's $(touch TICK)", 'say "$(touch Q)"', "b\\s", "t\tb", "ü"]
)
def test_a_local_path_is_shipped_only_if_skypilots_copy_keeps_it(tmp_path, name):
    """SkyPilot's rsync command line quotes a local source with ``repr`` and runs with ``shell=True``
    (``sky/utils/command_runner.py``); a path is accepted exactly when that shell sees the same path and runs
    nothing."""
    path = tmp_path / name
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    echoed = subprocess.run(f"printf '%s' {str(path)!r}", shell=True, cwd=cwd, capture_output=True, text=True)
    survives = echoed.stdout == str(path) and not list(cwd.iterdir())
    try:
        check_local_source(path)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == survives


CONTROL = "\x1b[2J\x1b]0;title\x07\x9b31m\r"


def test_printable_escapes_c0_c1_and_del_and_keeps_the_rest():
    assert printable("a\x1b[2Jb\x1b]0;t\x07\n\t\x7f\x9b ü€漢 \\x1b") == (
        "a\\x1b[2Jb\\x1b]0;t\\x07\\x0a\\x09\\x7f\\x9b ü€漢 \\x1b"
    )
    assert all(printable(chr(c)) == f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)])
    kept = "".join(map(chr, range(0x20, 0x7F))) + "".join(map(chr, range(0xA0, 0x250)))
    assert printable(kept) == kept


def test_collect_prints_no_control_character_from_the_files(tmp_path):
    """A record's GPU name, a file's name, a run key quoted by a warning and a JSON key quoted by an error used
    to reach the terminal raw (``\\x1b]0;...\\x07`` retitles it, ``\\x1b[2J`` clears it)."""
    returned = tmp_path / "plan" / "results"
    returned.mkdir(parents=True)
    error = ErrorInfo(type="X" + CONTROL, message="m" + CONTROL)
    record = _record(tiny_spec(scenario="s" + CONTROL), "2026-01-01T00:00:00+00:00").model_copy(
        update={"env": {"gpu_name": "NVIDIA L4" + CONTROL}, "reason": "r" + CONTROL, "error": error}
    )
    append_record(returned / f"a{CONTROL}.jsonl", record)
    line = json.loads(dump_record(record))
    unusable = {**line, "status": "ok", "run_key": "k" + CONTROL, "started_at": "2026-01-01T00:02:00+00:00"}
    (returned / "w.jsonl").write_text(json.dumps(unusable) + "\n")  # skipped with a warning quoting its run key
    done = run_kbench("sky", "collect", str(tmp_path / "plan"), "--out", str(tmp_path / "m.jsonl"))
    (returned / "bad.jsonl").write_text(json.dumps({**line, "k" + CONTROL: 1}) + "\n")  # an error quoting its key
    bad = run_kbench("sky", "collect", str(tmp_path / "plan"), "--out", str(tmp_path / "m2.jsonl"))
    assert done.returncode == 0 and bad.returncode == 2, done.stderr + bad.stderr
    for text in (done.stdout, done.stderr, bad.stderr):
        assert not [c for c in text if c != "\n" and printable(c) != c], text
    assert "NVIDIA L4\\x1b[2J\\x1b]0;title\\x07\\x9b31m\\x0d" in done.stdout
    assert "a\\x1b[2J" in done.stdout and "k\\x1b[2J" in done.stderr and "k\\x1b[2J" in bad.stderr
    assert [r.env["gpu_name"] for r in read_results([tmp_path / "m.jsonl"])] == ["NVIDIA L4" + CONTROL]  # data kept

"""``kbench ab`` end to end: two revisions of a throw-away git repository holding this package, real children.

The repository is a copy of ``bench/`` committed three times: the base, the same code again (a README changes:
an A/A pair), and a head whose decoder runs three times the denoising steps it is asked for and sleeps half a
second per call. The children import ``bench`` from each side's worktree, so the head's patch is what they run:
its records show three times the denoising steps, and ``ab`` flags it in four rounds (the fewest processes a side
that carry a verdict at 95%); the identical pair, in one round (two children: the fewest that check the sides'
worktrees are reused and cleaned), is not judged at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.ab import abba_order
from bench.cli import main
from bench.results import read_results
from tests.conftest import REPO, run_kbench

STEPS = 2
PATCH_FROM = '"num_inference_steps": spec.steps,'
# three times the steps (seen in the records) and half a second asleep per call: a floor under the slowdown that a
# busy machine cannot take away (CPU load slows both sides' compute alike; it never shortens a sleep)
PATCH_TO = '"num_inference_steps": spec.steps * 3 + (__import__("time").sleep(0.5) or 0),'
SCENARIO = f"""\
name: ab
defaults: {{weights: tiny, device: cpu, dtypes: [fp32], resolutions: [64x64], steps: {STEPS}, prior_steps: 2,
           warmup: 0, repeats: 2, cpu_threads: 1}}
scenarios:
  - name: k22
    models: [kandinsky-2.2]
    tasks: [text2img]
"""
pytestmark = pytest.mark.slow  # ten real children: about 65 s on an idle 2-core machine
THRESHOLD = "median:50%"  # the head is at least 1.5x slower however busy the machine; identical code, within noise


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    root = tmp_path_factory.mktemp("ab")
    repo = root / "repo"
    shutil.copytree(REPO / "bench", repo / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "README.md").write_text("base\n", encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("same code\n", encoding="utf-8")
    _git(repo, "commit", "-q", "-am", "same code")
    same = _git(repo, "rev-parse", "HEAD")
    calls = repo / "bench" / "workloads" / "calls.py"
    text = calls.read_text(encoding="utf-8")
    assert text.count(PATCH_FROM) >= 1, "the decoder call changed: update PATCH_FROM"
    calls.write_text(text.replace(PATCH_FROM, PATCH_TO), encoding="utf-8")
    _git(repo, "commit", "-q", "-am", "head: three times the steps")
    head = _git(repo, "rev-parse", "HEAD")
    scenario = root / "ab.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    return {"root": root, "repo": repo, "base": base, "same": same, "head": head, "scenario": scenario}


def _ab(
    project: dict[str, Path | str], head: str, out: str, *extra: str, rounds: int = 4
) -> subprocess.CompletedProcess[str]:
    root = Path(project["root"])
    return run_kbench(
        "ab", str(project["scenario"]), "--repo", str(project["repo"]), "--base", str(project["base"]),
        "--head", head, "--rounds", str(rounds), "-o", str(root / out), "--cache-dir", str(root / "cache"),
        "-t", THRESHOLD, "--summary", str(root / f"{out}.md"), *extra,
        timeout=400,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(project: dict[str, Path | str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """The A/B run first (it checks out the worktrees), then the A/A run, which reuses base's and cleans."""
    ab = _ab(project, str(project["head"]), "ab.jsonl")
    aa = _ab(project, str(project["same"]), "aa.jsonl", "--clean", rounds=1)
    return {"ab": ab, "aa": aa}


def test_ab_flags_the_slower_head_and_records_abba_order(project, runs):
    proc = runs["ab"]
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "head is slower" in proc.stderr
    records = read_results([Path(project["root"]) / "ab.jsonl"])
    assert [(r.ab_round, r.side) for r in records] == [
        (1, "base"), (1, "head"), (2, "head"), (2, "base"), (3, "base"), (3, "head"), (4, "head"), (4, "base")
    ]  # fmt: skip
    assert all(r.ok for r in records)
    for r in records:
        commit = project["base"] if r.side == "base" else project["head"]
        assert r.env["git_commit"] == commit  # the child ran in the side's worktree
        assert r.env["kbench_git_commit"] == commit  # ... and imported bench from it
        assert len(r.timing.step_s) == (STEPS * 3 if r.side == "head" else STEPS)  # the patched code ran
    summary = (Path(project["root"]) / "ab.jsonl.md").read_text(encoding="utf-8")
    assert summary.startswith("### kbench ab: FAIL")
    assert "**REGRESSION**" in summary and "Noise floor" in summary and "`AB | BA | AB | BA`" in summary
    assert (Path(project["root"]) / "ab.jsonl.png").read_bytes()[:4] == b"\x89PNG"


def test_ab_passes_an_identical_pair_reuses_and_cleans_the_sides(project, runs):
    proc = runs["aa"]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "--rounds 1: one process per side" in proc.stderr
    base_line = next(line for line in proc.stdout.splitlines() if line.startswith("base:"))
    assert "reused worktree" in base_line  # checked out by the A/B run before
    head_line = next(line for line in proc.stdout.splitlines() if line.startswith("head:"))
    assert "reused" not in head_line and "code under test: kbench" in head_line
    records = read_results([Path(project["root"]) / "aa.jsonl"])
    assert {r.side for r in records} == {"base", "head"} and all(r.ok for r in records)
    assert all(len(r.timing.step_s) == STEPS for r in records)
    assert "removed" in proc.stdout
    worktrees = _git(Path(project["repo"]), "worktree", "list")
    left = {line.split()[1] for line in worktrees.splitlines()[1:]}
    assert len(left) == 1 and str(project["head"]).startswith(left.pop()), worktrees  # A/A sides gone; A/B head kept
    kept = [p.name for p in (Path(project["root"]) / "cache").rglob("worktrees/*") if p.is_dir()]
    assert kept == [str(project["head"])[:16]]


def test_recompare_gives_the_same_verdict_from_the_file(project, runs, capsys):
    root = Path(project["root"])
    code = main(["ab", "--recompare", str(root / "ab.jsonl"), "-t", THRESHOLD, "--json-out", str(root / "re.json")])
    assert code == 1
    data = json.loads((root / "re.json").read_text(encoding="utf-8"))
    assert data["regression"] is True and data["ab"]["order"][:4] == [
        [1, "base"],
        [1, "head"],
        [2, "head"],
        [2, "base"],
    ]
    assert main(["ab", "--recompare", str(root / "aa.jsonl"), "-t", THRESHOLD]) == 0
    assert main(["ab", "--recompare", str(root / "aa.jsonl"), "-t", THRESHOLD, "--strict"]) == 1  # 1 process a side


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--repo", "{root}/nowhere-git", "--base", "HEAD", "--head", "HEAD"], "--repo"),
        (["--base", "no-such-rev", "--head", "HEAD"], "--base: 'no-such-rev' is not a commit"),
        (["--base", "HEAD", "--head-python", "/no/python"], "--head-python"),
        (["--base", "HEAD", "--head", "HEAD", "--rounds", "0"], "--rounds"),
        (["--base", "HEAD", "--base-hub", "unet=./x"], "--base-hub"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project, capsys, args, expected):
    root = Path(project["root"])
    (root / "nowhere-git").mkdir(exist_ok=True)
    argv = [a.replace("{root}", str(root)) for a in args]
    repo = [] if "--repo" in argv else ["--repo", str(project["repo"])]
    code = main(["ab", str(project["scenario"]), *repo, *argv, "-o", str(root / "bad.jsonl"), "--cache-dir", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (root / "bad.jsonl").exists()


def test_a_bad_scenario_and_a_used_results_file_are_refused(project, runs, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO.replace(f"steps: {STEPS},", "steps: many,"), encoding="utf-8")
    repo = ["--repo", str(project["repo"]), "--base", "HEAD", "--head", "HEAD"]
    assert main(["ab", str(bad), *repo, "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "steps" in capsys.readouterr().err
    used = Path(project["root"]) / "ab.jsonl"
    assert main(["ab", str(project["scenario"]), *repo, "-o", str(used)]) == 2
    assert "holds records" in capsys.readouterr().err


def test_abba_order_alternates_which_side_goes_first():
    assert abba_order(4) == [(1, ("base", "head")), (2, ("head", "base")), (3, ("base", "head")), (4, ("head", "base"))]
    with pytest.raises(ValueError):
        abba_order(0)


def test_a_model_directory_missing_in_one_revision_is_refused_before_any_run(tmp_path, capsys, monkeypatch):
    """A user's repository with its own model directory: relative hub paths resolve in each side's worktree."""
    repo = tmp_path / "user"
    (repo / "models" / "k3").mkdir(parents=True)
    (repo / "README.md").write_text("no model yet\n", encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-q", "-m", "before the model")
    (repo / "models" / "k3" / "model_index.json").write_text("{}", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the model")
    scenario = tmp_path / "hub.yaml"
    scenario.write_text(
        "name: u\nweights: hub\nhub: {main: ./models/k3}\ndevice: cpu\ndtypes: [fp32]\nmodels: [kandinsky-3]\n"
        "tasks: [text2img]\nresolutions: [64x64]\nsteps: 2\n",
        encoding="utf-8",
    )
    out = tmp_path / "u.jsonl"
    args = ["ab", str(scenario), "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD", "-o", str(out)]
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--cache-dir", "cache"]) == 2
    err = capsys.readouterr().err
    assert "hub.main" in err and "revision HEAD~1 (base side" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert not (tmp_path / "cache").exists() and not (repo / "cache").exists()  # found before any worktree

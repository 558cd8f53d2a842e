"""``kbench ab``'s sides and checks on small throw-away git repositories, with real git, pip and children.

Each test reproduces a defect: a side environment that could not install a project on Python 3.11 (its own old
setuptools shadowed the current environment's) and said only pip's last line; a reused worktree whose leftover
``sitecustomize.py`` ran inside the measured process; exit 0 when every run of both sides failed; a worktree
checked out before a hub directory was found missing; an error naming ``--out`` for ``--output``; and a cache
folder that cannot be written ending as an internal error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from bench.ab import SideRequest, prepare_side
from bench.ab.envs import unmet_build_requirements
from bench.ab.plan import plan_ab
from bench.ab.sides import prepare_worktree
from bench.cli import main
from bench.results import read_results

SCENARIO = """\
name: t
defaults: {weights: tiny, device: cpu, dtypes: [fp32], resolutions: [64x64], steps: 2, prior_steps: 2,
           warmup: 0, repeats: 1, cpu_threads: 1}
scenarios:
  - name: k22
    models: [kandinsky-2.2]
    tasks: [text2img]
"""
HUB_SCENARIO = """\
name: u
weights: hub
hub: {main: ./models/k3}
device: cpu
dtypes: [fp32]
models: [kandinsky-3]
tasks: [text2img]
resolutions: [64x64]
steps: 2
"""
PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "abside"
version = "0.1"

[tool.setuptools]
packages = ["abside"]
"""


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env)
    return out.stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not (repo / ".git").exists():
        _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path | str]:
    """A user's Python project: the first commit without a model directory, the second with one."""
    repo = tmp_path / "user"
    first = _commit(repo, {"pyproject.toml": PYPROJECT, "abside/__init__.py": "WHO = 'first'\n"}, "first")
    second = _commit(repo, {"abside/__init__.py": "WHO = 'second'\n", "models/k3/model_index.json": "{}"}, "model")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    hub = tmp_path / "hub.yaml"
    hub.write_text(HUB_SCENARIO, encoding="utf-8")
    return {"repo": repo, "first": first, "second": second, "scenario": scenario, "hub": hub}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _worktrees(repo: Path) -> list[str]:
    """The repository's worktrees, the main one first."""
    lines = _git(repo, "worktree", "list", "--porcelain").splitlines()
    return [line.removeprefix("worktree ") for line in lines if line.startswith("worktree ")]


# 1. a virtual environment per side


@pytest.mark.slow
def test_a_side_environment_installs_the_project_with_the_current_build_tools(project, tmp_path):
    """Python 3.11's venv brings setuptools 65.5 (no ``bdist_wheel``); it must not shadow the current one."""
    current = _version("setuptools")
    if current is None or int(current.split(".")[0]) < 68:
        pytest.skip("the current environment has no setuptools>=68 to build the project with offline")
    commit = str(project["first"])
    side = prepare_side(SideRequest("base", commit, venv=True), Path(project["repo"]), commit, tmp_path / "cache")
    code = "import abside, setuptools; print(abside.WHO, abside.__file__, setuptools.__version__)"
    out = subprocess.run([side.python, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    who, where, setuptools_version = out.stdout.split()
    assert who == "first" and Path(where).is_relative_to(tmp_path / "cache")  # installed into the side's venv
    assert setuptools_version == current  # the current environment's, not the bundled one
    assert _git(side.worktree, "status", "--porcelain", "--ignored") == ""  # the build left nothing behind
    again = prepare_side(SideRequest("base", commit, venv=True), Path(project["repo"]), commit, tmp_path / "cache")
    assert again.reused == ("worktree", "environment")


@pytest.mark.slow
def test_a_failed_install_shows_the_tail_of_pips_output_in_one_line(project, tmp_path, capsys):
    repo = Path(project["repo"])
    broken = "raise SystemExit('abside-build-broke: a compiler is missing')\n"
    head = _commit(repo, {"setup.py": broken}, "broken build")
    args = ["ab", str(project["scenario"]), "--repo", str(repo), "--base", head, "--head", head, "--venv"]
    code = main([*args, "-o", str(tmp_path / "o.jsonl"), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and len(err) <= 1100, err
    assert "base side" in err and "pip install" in err and "abside-build-broke" in err, err
    assert "Traceback" not in err and not (tmp_path / "o.jsonl").exists()


def test_build_isolation_is_left_on_only_when_the_build_requirements_are_missing(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    assert unmet_build_requirements(Path(sys.executable), tmp_path) == []
    wanting = PYPROJECT.replace('"setuptools>=68"', '"setuptools>=9999", "no-such-build-tool-xyz"')
    (tmp_path / "pyproject.toml").write_text(wanting, encoding="utf-8")
    assert unmet_build_requirements(Path(sys.executable), tmp_path) == ["setuptools>=9999", "no-such-build-tool-xyz"]


# 2. a reused worktree is clean


@pytest.mark.parametrize("ignored", [False, True], ids=["untracked", "ignored"])
def test_a_worktree_with_leftover_files_is_checked_out_again(project, tmp_path, ignored):
    repo, commit, cache = Path(project["repo"]), str(project["second"]), tmp_path / "cache"
    if ignored:
        commit = _commit(repo, {".gitignore": "sitecustomize.py\n"}, "ignore it")
    side = prepare_side(SideRequest("head", commit), repo, commit, cache)
    marker = tmp_path / "planted-ran"
    (side.worktree / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"had local files \(sitecustomize.py\)"):
        side = prepare_side(SideRequest("head", commit), repo, commit, cache)
    assert "worktree" not in side.reused and not (side.worktree / "sitecustomize.py").exists()
    env = {**os.environ, **side.env}
    subprocess.run([side.python, "-c", "pass"], env=env, cwd=side.worktree, check=True)
    assert not marker.exists()  # the measured process runs the commit's files only


def test_a_worktree_with_only_bytecode_caches_is_reused(project, tmp_path):
    repo, commit, cache = Path(project["repo"]), str(project["second"]), tmp_path / "cache"
    path, reused = prepare_worktree(repo, commit, cache)
    assert not reused
    subprocess.run([sys.executable, "-c", "import abside"], cwd=path, check=True, env={**os.environ})
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(path / "abside")], check=True)
    assert list((path / "abside" / "__pycache__").glob("*.pyc"))
    assert prepare_worktree(repo, commit, cache) == (path, True)


# 3. no side produced a measurement


@pytest.mark.slow
def test_every_run_failing_on_both_sides_exits_3(tmp_path, capsys):
    """A revision of kbench whose child cannot start: each side's calls fail, none measures anything."""
    repo = tmp_path / "kb"
    commit = _commit(repo, {"bench/__init__.py": "raise SystemExit('this revision is broken')\n"}, "broken")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "o.jsonl"
    args = ["ab", str(scenario), "--repo", str(repo), "--base", commit, "--head", commit, "--rounds", "2"]
    code = main([*args, "-o", str(out), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "no side produced a measurement" in err
    records = read_results([out])
    assert len(records) == 4 and not any(r.ok for r in records)


# 4. every check before the first worktree


def test_a_model_directory_missing_on_the_head_side_is_refused_before_any_worktree(project, tmp_path, capsys):
    repo, cache = Path(project["repo"]), tmp_path / "cache"
    args = ["ab", str(project["hub"]), "--repo", str(repo), "-o", str(tmp_path / "o.jsonl"), "--cache-dir", str(cache)]
    assert main([*args, "--base", str(project["second"]), "--head", str(project["first"])]) == 2
    err = capsys.readouterr().err
    assert "hub.main" in err and "(head side" in err and len(err.strip().splitlines()) == 1, err
    assert len(_worktrees(repo)) == 1 and not cache.exists()  # the base side, which has it, was not checked out


def test_a_missing_hub_override_names_the_option(project, tmp_path, capsys):
    repo, cache = Path(project["repo"]), tmp_path / "cache"
    args = ["ab", str(project["hub"]), "--repo", str(repo), "-o", str(tmp_path / "o.jsonl"), "--cache-dir", str(cache)]
    second = str(project["second"])
    assert main([*args, "--base", second, "--head", second, "--head-hub", "main=./models/none"]) == 2
    err = capsys.readouterr().err
    assert "--head-hub" in err and "./models/none" in err and len(err.strip().splitlines()) == 1, err
    assert len(_worktrees(repo)) == 1 and not cache.exists()


@pytest.mark.parametrize(
    ("option", "value"), [("--base-diffusers", "0.31.x"), ("--head-diffusers", "./wheels/diffusers-0.31.0.whl")]
)
def test_a_bad_diffusers_pin_is_refused_before_any_worktree(project, tmp_path, capsys, option, value):
    repo, cache = Path(project["repo"]), tmp_path / "cache"
    args = ["ab", str(project["scenario"]), "--repo", str(repo), "--base", "HEAD", "--head", "HEAD~1", option, value]
    assert main([*args, "-o", str(tmp_path / "o.jsonl"), "--cache-dir", str(cache)]) == 2
    err = capsys.readouterr().err
    assert f"{option}: " in err and len(err.strip().splitlines()) == 1, err
    assert len(_worktrees(repo)) == 1 and not cache.exists()


def test_a_relative_cache_folder_is_taken_from_the_current_folder(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    request = SideRequest("base", "HEAD")
    plan = plan_ab(
        Path(project["scenario"]), request, request, repo=Path(project["repo"]), rounds=1, cache_dir=Path("c")
    )
    assert plan.cache.is_relative_to(tmp_path / "c" / "ab") and not (tmp_path / "c").exists()


# 5. options named as spelled


@pytest.mark.parametrize(("flag", "named"), [("--out", "--out"), ("-o", "--out"), ("--output", "--output")])
def test_output_errors_name_the_output_option(project, tmp_path, capsys, flag, named):
    notes = tmp_path / "notes.txt"
    notes.write_text("not results\n", encoding="utf-8")
    base = ["ab", str(project["scenario"]), "--repo", str(project["repo"]), "--base", "HEAD", "--head", "HEAD"]
    for target in (notes, project["scenario"]):
        assert main([*base, flag, str(target), "--cache-dir", str(tmp_path / "cache")]) == 2
        err = capsys.readouterr().err
        assert f"{named}:" in err and len(err.strip().splitlines()) == 1, err


# 6. a cache folder that cannot be written


def test_a_cache_folder_under_a_file_is_one_line_and_exit_2(project, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    args = ["ab", str(project["scenario"]), "--repo", str(project["repo"]), "--base", "HEAD", "--head", "HEAD~1"]
    assert main([*args, "-o", str(tmp_path / "o.jsonl"), "--cache-dir", str(blocker / "cache")]) == 2
    err = capsys.readouterr().err
    assert "--cache-dir" in err and "not a folder" in err and len(err.strip().splitlines()) == 1, err
    assert len(_worktrees(Path(project["repo"]))) == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file modes")
def test_a_read_only_cache_folder_is_one_line_and_exit_2(project, tmp_path, capsys):
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    try:
        args = ["ab", str(project["scenario"]), "--repo", str(project["repo"]), "--base", "HEAD", "--head", "HEAD~1"]
        assert main([*args, "-o", str(tmp_path / "o.jsonl"), "--cache-dir", str(read_only)]) == 2
    finally:
        read_only.chmod(0o700)
    err = capsys.readouterr().err
    assert "--cache-dir" in err and "cannot create files" in err and len(err.strip().splitlines()) == 1, err
    assert len(_worktrees(Path(project["repo"]))) == 1

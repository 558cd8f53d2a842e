"""The two sides of ``kbench ab``: a git worktree per revision and the interpreter that runs it.

A side is prepared once and reused: the worktree lives under the cache folder, keyed by commit, and is
checked out again only when it is missing, at another commit, or has local changes. The interpreter is one
of three:

* **the current interpreter** with the worktree first on ``PYTHONPATH`` (the default, and free): right when
  the revisions differ in pure-Python code — this package measuring itself (the child imports ``bench``
  from the side's worktree) or a user's pipeline code and model directories;
* **a given interpreter** (``--base-python``/``--head-python``): two installed environments;
* **a virtual environment per side** (``--venv``, implied by a ``diffusers`` pin): ``python -m venv``
  seeing the current environment's packages, plus ``pip install --no-deps`` of the worktree and the pinned
  requirement in front of them; reused while its marker file matches.

The child always runs with the worktree as its working directory, so relative ``hub`` directories in the
scenario resolve inside the side's revision and the record's ``git_commit`` is the side's commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench.cache import cache_home
from bench.errors import KbenchError, RunError

GIT_TIMEOUT_S = 120.0
PIP_TIMEOUT_S = 1800.0
SIDE_NAMES = ("base", "head")
ENV_MARKER = "kbench-side.json"
ChildKind = Literal["current interpreter", "given interpreter", "virtual environment"]


class AbError(KbenchError):
    """A ``kbench ab`` input that cannot be used: not a repository, an unknown revision, a bad interpreter."""


@dataclass(frozen=True)
class SideRequest:
    """What the user asked one side to be."""

    name: str
    revision: str | None = None
    python: str | None = None
    diffusers: str | None = None  # a version ("0.31.0") or a requirement ("diffusers==0.31.0", a wheel path)
    hub: dict[str, str] = field(default_factory=dict)  # role -> hub id or directory, overriding the scenario's
    venv: bool = False

    @property
    def wants_venv(self) -> bool:
        return self.python is None and (self.venv or self.diffusers is not None)


@dataclass(frozen=True)
class Side:
    """A prepared side: where its child runs and with which interpreter and environment variables."""

    name: str
    revision: str | None
    commit: str | None
    worktree: Path
    python: str
    env: dict[str, str]
    kind: ChildKind
    hub: dict[str, str] = field(default_factory=dict)
    venv_dir: Path | None = None
    reused: tuple[str, ...] = ()  # "worktree", "environment": what was found ready
    owned_worktree: bool = False  # a worktree this tool created (and may remove), not the repository itself

    @property
    def code_under_test(self) -> str:
        """``kbench`` when the worktree holds this package (the child imports it from there), else ``repository``."""
        return "kbench" if (self.worktree / "bench" / "measure" / "child.py").is_file() else "repository"

    def describe(self) -> str:
        rev = f"{self.revision} ({self.commit[:12]})" if self.revision and self.commit else "working tree"
        ready = f", reused {' and '.join(self.reused)}" if self.reused else ""
        return f"{self.name}: {rev}, {self.kind} {self.python}, code under test: {self.code_under_test}{ready}"


def _git(directory: Path, *args: str, timeout: float = GIT_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise AbError("git: not found on PATH; kbench ab needs git") from None
    except subprocess.TimeoutExpired:
        raise RunError(f"git {' '.join(args[:2])} in {directory} took over {timeout:g} s") from None


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def repository_root(path: Path) -> Path:
    """The top folder of the git repository holding ``path``."""
    if not path.is_dir():
        raise AbError(f"--repo: {path} is not a folder")
    out = _git(path, "rev-parse", "--show-toplevel")
    if out.returncode != 0:
        raise AbError(f"--repo: {path} is not inside a git repository (git: {_first_line(out.stderr)})")
    return Path(out.stdout.strip()).resolve()


def resolve_revision(root: Path, revision: str, option: str) -> str:
    """The full commit id of ``revision`` in the repository at ``root``."""
    if not revision.strip() or revision.startswith("-"):
        raise AbError(f"{option}: {revision!r} is not a revision; give a commit, branch or tag")
    out = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if out.returncode != 0 or not out.stdout.strip():
        raise AbError(f"{option}: {revision!r} is not a commit in {root} (fetch it, or give a branch, tag or sha)")
    return out.stdout.strip()


def check_python(path: str, option: str) -> str:
    """An interpreter path given by the user: an executable file."""
    resolved = shutil.which(path) or path
    if not Path(resolved).is_file() or not os.access(resolved, os.X_OK):
        raise AbError(f"{option}: {path!r} is not an executable Python interpreter")
    return str(Path(resolved).absolute())


def cache_root(cache_dir: Path | None) -> Path:
    """``CACHE/ab``: ``--cache-dir``, else ``KBENCH_CACHE_DIR``, else the user cache folder."""
    if cache_dir is not None:  # absolute: git resolves a relative worktree path against the repository
        return cache_dir.expanduser().absolute() / "ab"
    home = cache_home()
    if home is None:
        raise AbError("--cache-dir: KBENCH_CACHE_DIR=off leaves no place for the worktrees; give --cache-dir")
    return (home / "ab").expanduser().absolute()


def repository_cache(root: Path, cache_dir: Path | None) -> Path:
    """The cache folder of one repository: ``CACHE/ab/NAME-HASH`` (two clones never share a worktree)."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    return cache_root(cache_dir) / f"{root.name}-{digest}"


def _worktree_ready(path: Path, commit: str) -> bool:
    if not (path / ".git").exists():
        return False
    head = _git(path, "rev-parse", "HEAD")
    status = _git(path, "status", "--porcelain", "--untracked-files=no")
    return head.returncode == 0 and head.stdout.strip() == commit and status.returncode == 0 and not status.stdout


def remove_worktree(root: Path, path: Path) -> None:
    """Remove a worktree this tool made (git's record of it too); a folder git no longer knows is deleted."""
    if path.exists():
        out = _git(root, "worktree", "remove", "--force", str(path))
        if out.returncode != 0 and path.exists():
            shutil.rmtree(path, ignore_errors=True)
    _git(root, "worktree", "prune")


def prepare_worktree(root: Path, commit: str, cache: Path) -> tuple[Path, bool]:
    """A detached worktree of ``commit`` under ``cache``; ``(path, reused)``."""
    path = cache / "worktrees" / commit[:16]
    if _worktree_ready(path, commit):
        return path, True
    remove_worktree(root, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = _git(root, "worktree", "add", "--force", "--detach", str(path), commit)
    if out.returncode != 0:
        raise RunError(f"git worktree add {commit[:12]} failed: {_first_line(out.stderr)}")
    return path, False


def _requirement(diffusers: str | None) -> str | None:
    """``0.31.0`` -> ``diffusers==0.31.0``; a requirement or a path is kept as given."""
    if diffusers is None:
        return None
    return f"diffusers=={diffusers}" if diffusers[:1].isdigit() else diffusers


def _run_checked(cmd: Sequence[str], what: str, timeout: float = PIP_TIMEOUT_S) -> None:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RunError(f"{what} failed: {exc}") from None
    if out.returncode != 0:
        raise RunError(f"{what} failed (exit {out.returncode}): {_first_line(out.stderr or out.stdout)}")


def prepare_venv(side: SideRequest, worktree: Path, commit: str | None, cache: Path) -> tuple[Path, Path, bool]:
    """A virtual environment for one side; ``(folder, interpreter, reused)``.

    ``python -m venv`` gives the base interpreter's packages only, so a ``.pth`` line adds the current
    environment's site folders behind the venv's own: torch and the rest are shared, while what this side
    installs (the worktree, a diffusers pin) comes first.
    """
    requirement = _requirement(side.diffusers)
    marker = {"commit": commit, "requirement": requirement, "python": sys.executable, "worktree": str(worktree)}
    key = hashlib.sha256(json.dumps(marker, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache / "envs" / f"{(commit or 'tree')[:12]}-{key}"
    python = folder / "bin" / "python"
    marker_file = folder / ENV_MARKER
    try:
        if python.is_file() and json.loads(marker_file.read_text(encoding="utf-8")) == marker:
            return folder, python, True
    except (OSError, ValueError):
        pass
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _run_checked([sys.executable, "-m", "venv", "--system-site-packages", str(folder)], "python -m venv")
    probe = [str(python), "-c", "import site, sys; print(site.getsitepackages()[0])"]
    own_site = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=False).stdout.strip()
    if not own_site:
        raise RunError(f"the new environment {folder} has no site-packages folder")
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    (Path(own_site) / "kbench-parent-env.pth").write_text(lines, encoding="utf-8")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if (worktree / "pyproject.toml").is_file() or (worktree / "setup.py").is_file():
        _run_checked([*pip, "--no-deps", "--no-build-isolation", str(worktree)], f"pip install of {side.name}")
    if requirement is not None:
        _run_checked([*pip, requirement], f"pip install {requirement} for {side.name}")
    marker_file.write_text(json.dumps(marker, sort_keys=True), encoding="utf-8")
    return folder, python, False


def _pythonpath(worktree: Path) -> str:
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([str(worktree), *([existing] if existing else [])])


def prepare_side(request: SideRequest, root: Path, commit: str | None, cache: Path) -> Side:
    """Check out and set up one side (reusing what is ready); ``commit`` is None for the working tree."""
    reused: list[str] = []
    if commit is not None:
        worktree, ready = prepare_worktree(root, commit, cache)
        if ready:
            reused.append("worktree")
    else:
        worktree = root
    env = {"PYTHONPATH": _pythonpath(worktree)} if commit is not None else {}
    venv_dir: Path | None = None
    kind: ChildKind
    if request.python is not None:
        python, kind = request.python, "given interpreter"
    elif request.wants_venv:
        venv_dir, venv_python, ready = prepare_venv(request, worktree, commit, cache)
        python, kind = str(venv_python), "virtual environment"
        if ready:
            reused.append("environment")
    else:
        python, kind = sys.executable, "current interpreter"
    return Side(
        name=request.name,
        revision=request.revision,
        commit=commit,
        worktree=worktree,
        python=python,
        env=env,
        kind=kind,
        hub=dict(request.hub),
        venv_dir=venv_dir,
        reused=tuple(reused),
        owned_worktree=commit is not None,
    )


def clean_sides(root: Path, sides: Sequence[Side]) -> list[str]:
    """Remove the worktrees and environments of ``sides`` (``--clean``); returns what was removed."""
    removed: list[str] = []
    for side in sides:
        if side.owned_worktree and side.worktree.exists():
            remove_worktree(root, side.worktree)
            removed.append(str(side.worktree))
        if side.venv_dir is not None and side.venv_dir.exists():
            shutil.rmtree(side.venv_dir, ignore_errors=True)
            removed.append(str(side.venv_dir))
    return removed


__all__ = [
    "SIDE_NAMES",
    "AbError",
    "Side",
    "SideRequest",
    "cache_root",
    "check_python",
    "clean_sides",
    "prepare_side",
    "prepare_venv",
    "prepare_worktree",
    "remove_worktree",
    "repository_cache",
    "repository_root",
    "resolve_revision",
]

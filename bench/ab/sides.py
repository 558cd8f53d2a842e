"""The two sides of ``kbench ab``: a git worktree per revision and the interpreter that runs it.

A side is prepared once and reused: the worktree lives under the cache folder, keyed by commit, and is
checked out again when it is missing, at another commit, or holds anything the commit does not: changed,
untracked or ignored files (bytecode caches aside), since a leftover ``sitecustomize.py`` would run inside the
measured process while its record names the clean commit. The interpreter is one of three:

* **the current interpreter** with the worktree first on ``PYTHONPATH`` (the default, and free): right when
  the revisions differ in pure-Python code — this package measuring itself (the child imports ``bench``
  from the side's worktree) or a user's pipeline code and model directories;
* **a given interpreter** (``--base-python``/``--head-python``): two installed environments;
* **a virtual environment per side** (``--venv``, implied by a ``diffusers`` pin): see :mod:`bench.ab.envs`;
  the current environment's packages, with the worktree and the pinned requirement in front of them; reused
  while its marker file matches.

The child always runs with the worktree as its working directory, so relative ``hub`` directories in the
scenario resolve inside the side's revision and the record's ``git_commit`` is the side's commit.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench.ab.envs import is_python_project, prepare_venv
from bench.cache import CACHE_VARIABLE, cache_home
from bench.errors import KbenchError, RunError

GIT_TIMEOUT_S = 120.0
SIDE_NAMES = ("base", "head")
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
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
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


def cache_option(cache_dir: Path | None) -> str:
    """How the user named the cache folder: ``--cache-dir``, or ``KBENCH_CACHE_DIR`` when that set it."""
    return "--cache-dir" if cache_dir is not None or not os.environ.get(CACHE_VARIABLE) else CACHE_VARIABLE


def check_cache(cache: Path, option: str) -> None:
    """The cache folder can hold worktrees and environments; checked before the first one, creating nothing.

    A probe file made and removed in the deepest existing folder answers for modes, read-only mounts and quotas
    (for root too); without it the first worktree would fail half-way, as an internal error.
    """
    here = Path(os.path.abspath(cache))
    while True:
        try:
            is_dir = here.is_dir()
            exists = is_dir or here.exists()
        except OSError as exc:
            raise AbError(f"{option}: cannot reach {here} ({exc.strerror or exc})") from None
        if is_dir:
            break
        if exists:
            raise AbError(f"{option}: {here} is a file, not a folder; give a folder for worktrees and environments")
        if here.parent == here:
            raise AbError(f"{option}: no existing folder above {cache}")
        here = here.parent
    try:
        fd, name = tempfile.mkstemp(prefix=".kbench-probe-", dir=here)
    except OSError as exc:
        raise AbError(
            f"{option}: cannot create files in {here} ({exc.strerror or exc}); give a writable folder"
        ) from None
    os.close(fd)
    os.unlink(name)


def path_kind_in_commit(root: Path, commit: str, relative: str) -> str | None:
    """What ``relative`` is in ``commit``, read from git without a checkout: dir, file, link, or None if absent.

    This lets every side's model directories be checked before the first worktree is made.
    """
    if relative in ("", "."):
        return "dir"
    out = _git(root, "--literal-pathspecs", "ls-tree", "-z", commit, "--", relative)
    entry = out.stdout.split("\0")[0] if out.returncode == 0 else ""
    meta, sep, _ = entry.partition("\t")
    if not sep or len(meta.split()) < 2:
        return None
    mode, kind = meta.split()[:2]
    if mode == "120000":
        return "link"
    return {"tree": "dir", "commit": "dir", "blob": "file"}.get(kind)


def worktree_path(cache: Path, commit: str) -> Path:
    """Where the worktree of ``commit`` lives under the cache folder of its repository."""
    return cache / "worktrees" / commit[:16]


def repository_cache(root: Path, cache_dir: Path | None) -> Path:
    """The cache folder of one repository: ``CACHE/ab/NAME-HASH`` (two clones never share a worktree)."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    return cache_root(cache_dir) / f"{root.name}-{digest}"


def _is_bytecode(name: str) -> bool:
    """A file of a ``__pycache__`` folder: Python writes these beside the sources it imports, and never imports
    one whose source is missing (a stray ``__pycache__/sitecustomize.*.pyc`` runs nothing), so they may stay."""
    parts = name.split("/")
    return len(parts) >= 2 and parts[-2] == "__pycache__" and parts[-1].endswith(".pyc")


def worktree_changes(path: Path) -> list[str] | None:
    """What differs from the checked-out commit: changed, untracked and ignored files, bytecode caches aside.

    Ignored files count: a ``sitecustomize.py`` or a ``.pth`` left in the worktree runs inside the measured
    process, whatever ``.gitignore`` says, while the record names the clean commit. None when git cannot tell.
    """
    out = _git(path, "status", "--porcelain", "-z", "--ignored=traditional", "--untracked-files=all")
    if out.returncode != 0:
        return None
    changes: list[str] = []
    entries = iter(out.stdout.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        code, name = entry[:2], entry[3:]
        if "R" in code or "C" in code:
            next(entries, None)  # a rename's or copy's source path follows
        if code in ("??", "!!") and _is_bytecode(name):
            continue
        changes.append(name)
    return changes


def _worktree_ready(path: Path, commit: str) -> bool:
    if not (path / ".git").exists():
        return False
    head = _git(path, "rev-parse", "HEAD")
    if head.returncode != 0 or head.stdout.strip() != commit:
        return False
    changes = worktree_changes(path)
    if changes:
        shown = ", ".join(changes[:3]) + (f" and {len(changes) - 3} more" if len(changes) > 3 else "")
        warnings.warn(f"the worktree of {commit[:12]} had local files ({shown}); checking it out again", stacklevel=3)
    return changes == []


def remove_worktree(root: Path, path: Path) -> None:
    """Remove a worktree this tool made (git's record of it too); a folder git no longer knows is deleted."""
    if path.exists():
        out = _git(root, "worktree", "remove", "--force", str(path))
        if out.returncode != 0 and path.exists():
            shutil.rmtree(path, ignore_errors=True)
    _git(root, "worktree", "prune")


def prepare_worktree(root: Path, commit: str, cache: Path) -> tuple[Path, bool]:
    """A detached worktree of ``commit`` under ``cache``; ``(path, reused)``."""
    path = worktree_path(cache, commit)
    if _worktree_ready(path, commit):
        return path, True
    remove_worktree(root, path)
    if path.exists():
        raise AbError(
            f"--cache-dir: {path} is not a clean worktree of {commit[:12]} and could not be removed; "
            "remove it, or give another --cache-dir"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AbError(f"--cache-dir: cannot create {path.parent} ({exc.strerror or exc})") from None
    out = _git(root, "worktree", "add", "--force", "--detach", str(path), commit)
    if out.returncode != 0:
        raise RunError(f"git worktree add {commit[:12]} failed: {_first_line(out.stderr)}")
    return path, False


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
        venv_dir, venv_python, ready = prepare_venv(request.name, request.diffusers, worktree, commit, cache)
        python, kind = str(venv_python), "virtual environment"
        if ready:
            reused.append("environment")
        elif commit is not None and is_python_project(worktree):
            _git(worktree, "clean", "-ffdxq")  # the build's leftovers (build/, *.egg-info): the worktree stays clean
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
    "cache_option",
    "cache_root",
    "check_cache",
    "check_python",
    "clean_sides",
    "path_kind_in_commit",
    "prepare_side",
    "prepare_worktree",
    "remove_worktree",
    "repository_cache",
    "repository_root",
    "resolve_revision",
    "worktree_changes",
    "worktree_path",
]

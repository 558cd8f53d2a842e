"""A virtual environment per side of ``kbench ab``: the current environment's packages, the side's in front.

The environment is made with ``python -m venv --without-pip`` and a ``.pth`` file that adds the current
environment's site folders, in the order the current interpreter sees them, behind the environment's own. So the
side sees exactly the packages kbench runs with (torch, diffusers, and also pip, setuptools and wheel), and only
what is installed for the side (the worktree, a diffusers pin) comes first.

Why not ``--system-site-packages`` and the bundled pip: on Python 3.11 ``venv`` installs its bundled setuptools
65.5 (which has no ``bdist_wheel``) into the environment, and ``--system-site-packages`` puts the base
interpreter's folders (often holding that same old setuptools) in front of the current environment's; either one
shadows the current environment's build tools, and every install of a ``pyproject.toml`` project fails.

The worktree is built without build isolation when the side already has the project's declared build requirements
(no network needed, the current environment's tools are used); otherwise pip's isolated build fetches them from
the package index. A failed pip says why in one line: the side, the command and the tail of pip's output, with
the whole output kept in a log file in the environment's folder.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import site
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.errors import RunError

PIP_TIMEOUT_S = 1800.0
PROBE_TIMEOUT_S = 120.0
ENV_MARKER = "kbench-side.json"
SETUP_LOG = "kbench-setup.log"  # every setup command's whole output, in the environment's folder
ENV_LAYOUT = 2  # bumped when the way an environment is made changes: an older one is made again
TAIL_LINES = 12  # the most lines of a failed command's output an error shows ...
TAIL_CHARS = 600  # ... and the most characters, so the error stays one bounded line
LINE_CHARS = 200
# pip's closing lines that only point elsewhere ("See above for details"): left out of the tail
BOILERPLATE = ("note:", "hint:", "╰─> See above", "[end of output]")

# Run by the side's interpreter: the build requirements of the project that its installed packages do not meet.
# packaging is pip's own when the environment has no packaging of its own (pip is there: it builds the project).
_BUILD_PROBE = r"""
import json, sys, tomllib
from importlib import metadata
try:
    from packaging.requirements import Requirement
    from packaging.version import Version
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.version import Version

def installed(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None

try:
    with open(sys.argv[1], "rb") as fh:
        system = tomllib.load(fh).get("build-system", {})
except FileNotFoundError:
    system = {}
requires = system.get("requires", ["setuptools>=40.8.0"])
unmet = []
for text in requires:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate():
        continue
    found = installed(req.name)
    if found is None or not req.specifier.contains(found, prereleases=True):
        unmet.append(text)
backend = system.get("build-backend", "setuptools.build_meta:__legacy__")
tools = installed("setuptools")
if backend.startswith("setuptools") and tools and Version(tools) < Version("70.1") and not installed("wheel"):
    unmet.append(f"wheel (setuptools {tools} needs it to build a wheel)")
print(json.dumps(unmet))
"""


def output_tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last lines of a command's output that say something, joined with `` | ``, within ``chars``.

    A failed ``pip install`` ends with lines that only point above them; the build's own error is a few lines
    higher, so the tail is taken from the meaningful lines, not just the last one.
    """
    kept = [s[:LINE_CHARS] for line in text.splitlines() if (s := line.strip()) and not s.startswith(BOILERPLATE)]
    tail: list[str] = []
    used = 0
    for line in reversed(kept[-lines:]):
        if tail and used + len(line) > chars:
            break
        tail.append(line)
        used += len(line) + 3
    return " | ".join(reversed(tail)) or "no output"


def run_logged(cmd: Sequence[str], side: str, log: Path | None = None, timeout: float = PIP_TIMEOUT_S) -> str:
    """Run a setup command of one side; on failure raise one line naming the side, the command and its output.

    The whole output is appended to ``log`` (when given) so the error can point at it.
    """
    shown = shlex.join(cmd)
    try:
        out = subprocess.run(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout
        )
    except OSError as exc:
        raise RunError(f"{side} side: {shown} could not start: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise RunError(f"{side} side: {shown} took over {timeout:g} s and was stopped") from None
    if log is not None:
        try:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"$ {shown}\n{out.stdout}\n")
        except OSError:
            log = None
    if out.returncode != 0:
        where = f" (whole output: {log})" if log is not None else ""
        raise RunError(f"{side} side: {shown} failed (exit {out.returncode}): {output_tail(out.stdout)}{where}")
    return out.stdout


def parent_site_dirs() -> list[str]:
    """The current environment's site folders (its own, the base's it sees, the user's), in import order."""
    found = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        found.append(site.getusersitepackages())
    order = {p: i for i, p in enumerate(sys.path)}
    dirs = [p for p in dict.fromkeys(found) if Path(p).is_dir()]
    return sorted(dirs, key=lambda p: order.get(p, len(order)))


def unmet_build_requirements(python: Path, project: Path) -> list[str]:
    """The project's declared build requirements that ``python`` does not have (all of them when unknown).

    Building without isolation is right only when the side has what the project says its build needs; then no
    package index is needed and the current environment's build tools are used.
    """
    probe = [str(python), "-c", _BUILD_PROBE, str(project / "pyproject.toml")]
    try:
        out = subprocess.run(probe, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
        unmet = json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        unmet = None
    if not isinstance(unmet, list):
        return ["(the build requirements could not be read)"]
    return [str(u) for u in unmet]


def requirement(diffusers: str | None) -> str | None:
    """``0.31.0`` -> ``diffusers==0.31.0``; a requirement or a path is kept as given."""
    if diffusers is None:
        return None
    return f"diffusers=={diffusers}" if diffusers[:1].isdigit() else diffusers


def _has_pip(python: Path) -> bool:
    probe = [str(python), "-c", "import pip"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def is_python_project(worktree: Path) -> bool:
    """A folder pip can install: it has a ``pyproject.toml`` or a ``setup.py``."""
    return (worktree / "pyproject.toml").is_file() or (worktree / "setup.py").is_file()


def _make_env(side: str, folder: Path, log: Path) -> Path:
    """An empty environment whose ``.pth`` adds the current environment's site folders behind its own."""
    run_logged([sys.executable, "-m", "venv", "--without-pip", str(folder)], side, log)
    python = folder / "bin" / "python"
    probe = [str(python), "-c", "import site; print(site.getsitepackages()[0])"]
    printed = run_logged(probe, side, log, timeout=PROBE_TIMEOUT_S).strip().splitlines()
    own_site = printed[-1] if printed else ""
    if not own_site or not Path(own_site).is_dir():
        raise RunError(f"{side} side: the new environment {folder} has no site-packages folder")
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parent_site_dirs())
    (Path(own_site) / "kbench-parent-env.pth").write_text(lines, encoding="utf-8")
    if not _has_pip(python):  # the current environment has no pip: the bundled one, offline
        run_logged([str(python), "-m", "ensurepip", "--default-pip"], side, log)
    return python


def prepare_venv(
    side: str, diffusers: str | None, worktree: Path, commit: str | None, cache: Path
) -> tuple[Path, Path, bool]:
    """A virtual environment for one side; ``(folder, interpreter, reused)``.

    It holds the worktree (when it is a Python project, installed without its dependencies, which the current
    environment provides) and the diffusers pin, and is reused while its marker file matches.
    """
    pin = requirement(diffusers)
    marker = {
        "commit": commit,
        "requirement": pin,
        "python": sys.executable,
        "worktree": str(worktree),
        "layout": ENV_LAYOUT,
    }
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
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise RunError(f"--cache-dir: cannot create {folder} ({exc.strerror or exc})") from None
    python = _make_env(side, folder, folder / SETUP_LOG)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if is_python_project(worktree):
        isolation = [] if unmet_build_requirements(python, worktree) else ["--no-build-isolation"]
        run_logged([*pip, "--no-deps", *isolation, str(worktree)], side, folder / SETUP_LOG)
    if pin is not None:
        run_logged([*pip, pin], side, folder / SETUP_LOG)
    marker_file.write_text(json.dumps(marker, sort_keys=True), encoding="utf-8")
    return folder, python, False


__all__ = [
    "ENV_MARKER",
    "is_python_project",
    "output_tail",
    "parent_site_dirs",
    "prepare_venv",
    "requirement",
    "run_logged",
    "unmet_build_requirements",
]

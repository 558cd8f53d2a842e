"""Validate everything ``kbench ab`` needs before any work, then prepare the sides.

:func:`plan_ab` has no side effects: the scenario loads, the repository is a git repository, each revision
is a commit, each interpreter is executable, each ``hub`` override names a pipeline role, each diffusers pin is
a version or a requirement, every local ``hub`` directory a side will load exists in that side's revision (read
from git, without a checkout), and the cache folder can be written. Only then does :func:`prepare_sides` check
out worktrees and build environments, so a mistake costs one line naming the option and exit 2, never a
worktree left behind or a half-measured job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.ab.sides import (
    SIDE_NAMES,
    AbError,
    Side,
    SideRequest,
    cache_option,
    check_cache,
    check_python,
    path_kind_in_commit,
    prepare_side,
    repository_cache,
    repository_root,
    resolve_revision,
    worktree_path,
)
from bench.scenario import load_scenario_file
from bench.spec import RunSpec

HUB_ROLES = ("prior", "decoder", "inpaint", "main", "refiner")
MAX_ROUNDS = 100
VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9.]+)?", re.IGNORECASE)
ARCHIVES = (".whl", ".tar.gz", ".zip")


@dataclass(frozen=True)
class AbPlan:
    """A validated A/B job: the runs, the repository, the two side requests with their commits."""

    specs: tuple[RunSpec, ...]
    root: Path
    cache: Path
    requests: tuple[SideRequest, SideRequest]
    commits: tuple[str | None, str | None]
    rounds: int


def parse_hub(values: Sequence[str], option: str) -> dict[str, str]:
    """``ROLE=DIR`` items -> ``{role: dir}``."""
    out: dict[str, str] = {}
    for item in values:
        role, sep, where = item.partition("=")
        if not sep or role not in HUB_ROLES or not where.strip():
            raise AbError(f"{option}: {item!r} is not ROLE=DIR; roles are {', '.join(HUB_ROLES)}")
        out[role] = where.strip()
    return out


def plan_ab(
    scenario: Path,
    base: SideRequest,
    head: SideRequest,
    *,
    repo: Path,
    rounds: int,
    cache_dir: Path | None = None,
) -> AbPlan:
    """Check every input of an A/B job; raise :class:`AbError` (or ``ScenarioError``) naming the first problem."""
    if not 1 <= rounds <= MAX_ROUNDS:
        raise AbError(f"--rounds: {rounds} is not allowed; give 1 to {MAX_ROUNDS} (2 or more measure the noise)")
    specs = tuple(load_scenario_file(scenario))
    if not specs:
        raise AbError(f"{scenario}: the scenario has no runs (every combination is excluded)")
    root = repository_root(repo)
    if all(
        r.revision is None and r.python is None and r.diffusers is None and not r.hub and not r.venv
        for r in (base, head)
    ):
        raise AbError("--base/--head: give the two revisions (or interpreters, diffusers pins or hub dirs) to compare")
    cache = repository_cache(root, cache_dir)
    commits: list[str | None] = []
    requests: list[SideRequest] = []
    for name, request in zip(SIDE_NAMES, (base, head), strict=True):
        commit = resolve_revision(root, request.revision, f"--{name}") if request.revision else None
        python = check_python(request.python, f"--{name}-python") if request.python else None
        check_diffusers(request.diffusers, f"--{name}-diffusers")
        checked = SideRequest(name, request.revision, python, request.diffusers, request.hub, request.venv)
        check_planned_hubs(scenario, specs, checked, root, commit, cache)
        commits.append(commit)
        requests.append(checked)
    if any(c is not None for c in commits) or any(r.wants_venv for r in requests):
        check_cache(cache, cache_option(cache_dir))
    return AbPlan(
        specs=specs,
        root=root,
        cache=cache,
        requests=(requests[0], requests[1]),
        commits=(commits[0], commits[1]),
        rounds=rounds,
    )


def check_diffusers(value: str | None, option: str) -> None:
    """A diffusers pin is a version (``0.31.0``), a requirement, or an existing wheel, archive or folder.

    A typo here would otherwise surface only after a worktree and an environment were made, as pip's error.
    """
    if value is None:
        return
    if not value.strip():
        raise AbError(f"{option}: empty; give a version (0.31.0) or a requirement (diffusers>=0.31)")
    if value[:1].isdigit() and not VERSION.fullmatch(value):
        raise AbError(f"{option}: {value!r} is not a version; give one like 0.31.0, or a requirement")
    local = "://" not in value and "@" not in value and (os.sep in value or value.endswith(ARCHIVES))
    if local and not Path(os.path.expanduser(value)).exists():
        raise AbError(f"{option}: {value} does not exist; give a version, a requirement, or an existing wheel")


def _hub_entries(spec: RunSpec, request: SideRequest) -> list[tuple[str, str, bool]]:
    """``(role, where, from_option)`` of the local directories a side loads for ``spec``."""
    if spec.weights != "hub":
        return []
    hub = {**{r: (w, False) for r, w in spec.hub.items()}, **{r: (w, True) for r, w in request.hub.items()}}
    return [(role, where, given) for role, (where, given) in hub.items() if where.startswith((".", "/", "~"))]


def _hub_present(where: str, root: Path, commit: str | None, cache: Path) -> bool:
    """The directory exists where the side's child will look: in the revision, read from git, when relative."""
    path = Path(os.path.expanduser(where))  # an unknown ~user stays as written (and is not found)
    if path.is_absolute():
        return path.is_dir()
    if commit is None:
        return (root / path).is_dir()
    inside = os.path.normpath(path.as_posix())
    if inside == ".." or inside.startswith("../"):  # outside the worktree: a folder beside it in the cache
        return Path(os.path.normpath(worktree_path(cache, commit) / path)).is_dir()
    return path_kind_in_commit(root, commit, inside) in ("dir", "link")  # a link is followed after checkout


def check_planned_hubs(
    scenario: Path, specs: Sequence[RunSpec], request: SideRequest, root: Path, commit: str | None, cache: Path
) -> None:
    """Every local ``hub`` directory a side will load exists in its revision, read from git before any checkout.

    A directory named by ``--base-hub``/``--head-hub`` is reported under that option, one from the scenario
    under its ``hub.ROLE`` field.
    """
    where_rev = f"revision {request.revision}" if request.revision else "the working tree"
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        for role, where, given in _hub_entries(spec, request):
            if (role, where) in seen:
                continue
            seen.add((role, where))
            if _hub_present(where, root, commit, cache):
                continue
            if given:
                raise AbError(f"--{request.name}-hub: {role}={where} is not a directory in {where_rev}")
            raise AbError(
                f"{scenario}: hub.{role}: {where} is not a directory in {where_rev} ({request.name} side, "
                f"{spec.run_key})"
            )


def _local_hub_dirs(spec: RunSpec, side: Side) -> list[tuple[str, Path]]:
    hub = {**spec.hub, **side.hub} if spec.weights == "hub" else {}
    out = []
    for role, where in hub.items():
        if where.startswith((".", "/", "~")):
            path = Path(os.path.expanduser(where))
            out.append((role, path if path.is_absolute() else side.worktree / path))
    return out


def check_side_hubs(specs: Sequence[RunSpec], side: Side) -> None:
    """Every local ``hub`` directory the side will load exists (relative ones inside its worktree).

    :func:`check_planned_hubs` has checked them before the checkout; this is for what git alone cannot answer
    (a directory reached through a symbolic link).
    """
    for spec in specs:
        for role, path in _local_hub_dirs(spec, side):
            if not path.is_dir():
                where = f"revision {side.revision}" if side.revision else "the working tree"
                raise AbError(f"hub.{role}: {path} is not a directory in {where} ({side.name} side, {spec.run_key})")


def prepare_sides(plan: AbPlan) -> dict[str, Side]:
    """Worktrees and environments of both sides (reused when ready), their hub directories checked."""
    sides: dict[str, Side] = {}
    for request, commit in zip(plan.requests, plan.commits, strict=True):
        side = prepare_side(request, plan.root, commit, plan.cache)
        check_side_hubs(plan.specs, side)
        sides[side.name] = side
    return sides


__all__ = [
    "HUB_ROLES",
    "AbPlan",
    "check_diffusers",
    "check_planned_hubs",
    "check_side_hubs",
    "parse_hub",
    "plan_ab",
    "prepare_sides",
]

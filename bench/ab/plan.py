"""Validate everything ``kbench ab`` needs before any work, then prepare the sides.

:func:`plan_ab` has no side effects: the scenario loads, the repository is a git repository, each revision
is a commit, each interpreter is executable, each ``hub`` override names a pipeline role. Only then does
:func:`prepare_sides` check out worktrees and build environments, and check that every local ``hub``
directory a side will load exists in that side's worktree, so a mistake costs one line and exit 2, never a
half-measured job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.ab.sides import (
    SIDE_NAMES,
    AbError,
    Side,
    SideRequest,
    check_python,
    prepare_side,
    repository_cache,
    repository_root,
    resolve_revision,
)
from bench.scenario import load_scenario_file
from bench.spec import RunSpec

HUB_ROLES = ("prior", "decoder", "inpaint", "main", "refiner")
MAX_ROUNDS = 100


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
    commits: list[str | None] = []
    requests: list[SideRequest] = []
    for name, request in zip(SIDE_NAMES, (base, head), strict=True):
        commits.append(resolve_revision(root, request.revision, f"--{name}") if request.revision else None)
        python = check_python(request.python, f"--{name}-python") if request.python else None
        requests.append(SideRequest(name, request.revision, python, request.diffusers, request.hub, request.venv))
    return AbPlan(
        specs=specs,
        root=root,
        cache=repository_cache(root, cache_dir),
        requests=(requests[0], requests[1]),
        commits=(commits[0], commits[1]),
        rounds=rounds,
    )


def _local_hub_dirs(spec: RunSpec, side: Side) -> list[tuple[str, Path]]:
    hub = {**spec.hub, **side.hub} if spec.weights == "hub" else {}
    out = []
    for role, where in hub.items():
        if where.startswith((".", "/", "~")):
            path = Path(where).expanduser()
            out.append((role, path if path.is_absolute() else side.worktree / path))
    return out


def check_side_hubs(specs: Sequence[RunSpec], side: Side) -> None:
    """Every local ``hub`` directory the side will load exists (relative ones inside its worktree)."""
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


__all__ = ["HUB_ROLES", "AbPlan", "check_side_hubs", "parse_hub", "plan_ab", "prepare_sides"]

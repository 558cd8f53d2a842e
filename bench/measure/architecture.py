"""The ``architecture`` of a run's record: what the child built, compared with the registered model.

Called once after the measured calls (so neither load time nor the first image pays for it). A failure to
describe never costs the measurement: the record then has no architecture and a warning says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.models.architecture import describe_pipelines, match_run
from bench.results.architecture import ArchitectureInfo, ComponentInfo
from bench.spec import RunSpec


def record_architecture(pipes: Mapping[str, Any], spec: RunSpec, warnings: list[str]) -> ArchitectureInfo | None:
    """What ``pipes`` are, per component, and whether they are ``spec.model``'s registered architecture."""
    try:
        built = describe_pipelines(pipes, spec.model, spec.task, refiner=spec.refiner)
        verdict = match_run(built, spec.model, spec.task, refiner=spec.refiner)
    except Exception as exc:  # describing what was built must never lose the measurement
        warnings.append(f"architecture not recorded: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    return ArchitectureInfo(
        registered=spec.model,
        matches=verdict.matches,
        differences=list(verdict.differences),
        components=[
            ComponentInfo(
                role=c.role,
                name=c.name,
                class_name=c.class_name,
                parameters=c.parameters,
                dtypes=dict(c.dtypes),
                config_hash=c.config_hash,
            )
            for c in built.components
        ],
    )


__all__ = ["record_architecture"]

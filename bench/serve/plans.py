"""Which runs of loaded scenario files are served: each ``mode: serve`` run paired with its ``serve:`` block.

:func:`~bench.scenario.load_scenarios` has already validated and expanded the files (the serve block included)
into runs; this reads the same files' scenario entries once more to pair each serve run with its block, by
scenario file and name, without widening :class:`~bench.spec.RunSpec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.errors import ScenarioError
from bench.scenario import ScenarioFile, ScenarioSpec, display_path
from bench.scenario.serve import ServeSpec
from bench.serve.runner import ServePlan
from bench.spec import RunSpec
from bench.yaml_files import read_yaml_document


def _serve_blocks(path: Path) -> dict[str, ServeSpec]:
    """Scenario name -> serve block of one (already validated) file's serve scenarios."""
    _, data, _ = read_yaml_document(path, ScenarioError, "scenario file")
    if not isinstance(data, dict):
        return {}
    file_model = ScenarioFile.model_validate(data if "scenarios" in data else {"scenarios": [data]})
    blocks: dict[str, ServeSpec] = {}
    for index, raw in enumerate(file_model.scenarios):
        merged = {**file_model.defaults, **raw}
        merged.setdefault("name", f"{file_model.name or path.stem}-{index}")
        if merged.get("mode") == "serve":
            scenario = ScenarioSpec.model_validate(merged)
            if scenario.serve is not None:
                blocks[scenario.name] = scenario.serve
    return blocks


def serve_plans(paths: Sequence[str | Path], specs: Sequence[RunSpec]) -> list[ServePlan]:
    """The serve runs among ``specs`` (loaded from ``paths``) with their serve blocks, in order.

    Raises:
        ScenarioError: the files mix serve and isolated scenarios (run them as two commands).
    """
    blocks = {(display_path(Path(p)), name): b for p in paths for name, b in _serve_blocks(Path(p)).items()}
    if not blocks:
        return []
    plans = [ServePlan(s, blocks[key]) for s in specs if (key := (s.scenario_file or "", s.scenario)) in blocks]
    if len(plans) != len(specs):
        isolated = next(s for s in specs if (s.scenario_file or "", s.scenario) not in blocks)
        raise ScenarioError(
            f"{isolated.scenario_file}: scenario {isolated.scenario!r}: mode: serve and isolated scenarios cannot "
            "run in one command; run the serve scenarios in a command of their own"
        )
    return plans


__all__ = ["serve_plans"]

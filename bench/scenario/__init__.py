"""Scenario files: YAML -> validated pydantic models -> a matrix of :class:`~bench.spec.RunSpec`.

``schema`` holds the models and their rules, ``expand`` turns one scenario into runs, and ``load``
reads files and reports errors with file, line and field. Layering: schema <- expand <- load.
"""

from bench.scenario.expand import expand
from bench.scenario.load import display_path, load_scenario_file, load_scenarios
from bench.scenario.outpaint import check_outpaint
from bench.scenario.schema import EXCLUDE_KEYS, MIN_SIDE, ScenarioFile, ScenarioSpec, check_resolution

__all__ = [
    "EXCLUDE_KEYS",
    "MIN_SIDE",
    "ScenarioFile",
    "ScenarioSpec",
    "check_outpaint",
    "check_resolution",
    "display_path",
    "expand",
    "load_scenario_file",
    "load_scenarios",
]

"""Where the numbers came from: environments, weight-source banners, scenarios and prompts, run warnings.

All text here comes from user files and the machines that ran; renderers escape it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bench.report.architecture import architecture_notes, source_banner_applies
from bench.results import RunRecord
from bench.spec import RunSpec

WEIGHT_NOTES = {
    "random": (
        "random weights: the full-size architecture with randomly initialised weights. Time, memory and energy "
        "match the real model at this size; the images are noise."
    ),
    "tiny": (
        "tiny weights: small test configurations of each architecture. These numbers show that the pipeline "
        "runs; they say nothing about the real models' speed, memory or cost. The deployment-guide tables "
        "below are projections for the full-size models, not results of these runs."
    ),
}
ENV_PREFERRED = (  # keys as bench.measure.env.capture_environment writes them
    "gpu_name",
    "gpu_memory_total_mb",
    "power_limit_w",
    "driver_version",
    "cuda_driver_version",
    "torch_cuda_version",
    "cudnn_version",
    "torch_version",
    "diffusers_version",
    "transformers_version",
    "accelerate_version",
    "kbench_version",
    "python",
    "platform",
    "cpu_model",
    "host",
)
MAX_ENV_VALUE_CHARS = 300


@dataclass(frozen=True)
class EnvBlock:
    """One distinct environment among the records, flattened to (key, text) pairs, preferred keys first."""

    items: tuple[tuple[str, str], ...]
    weights: tuple[str, ...]
    devices: tuple[str, ...]
    runs: int


@dataclass(frozen=True)
class ScenarioInfo:
    """Where runs came from and what they were asked to draw (all text from user files: renderers escape it)."""

    scenario: str
    scenario_file: str
    prompt_set: str
    languages: str
    negative_prompt: str
    runs: int


def _flatten(env: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in env.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            out[name] = ", ".join(str(v) for v in value)
        elif value is not None:  # unknown facts (no GPU on a CPU run) are left out, not shown empty
            out[name] = str(value)
    return {k: (v if len(v) <= MAX_ENV_VALUE_CHARS else v[: MAX_ENV_VALUE_CHARS - 1] + "…") for k, v in out.items()}


class Recorded(Protocol):
    """What an environment block needs of a record: isolated runs and serving load points both have it."""

    @property
    def env(self) -> Mapping[str, Any]: ...

    @property
    def spec(self) -> RunSpec: ...


def environment_blocks(records: Sequence[Recorded], max_blocks: int = 8) -> list[EnvBlock]:
    """Distinct environments in first-seen order (results from several machines give several blocks)."""
    rank = {k: i for i, k in enumerate(ENV_PREFERRED)}
    groups: dict[tuple[tuple[str, str], ...], list[Recorded]] = {}
    for rec in records:
        flat = _flatten(rec.env)
        items = tuple(sorted(flat.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
        groups.setdefault(items, []).append(rec)
    return [
        EnvBlock(
            items=items,
            weights=tuple(sorted({r.spec.weights for r in recs})),
            devices=tuple(sorted({r.spec.device for r in recs})),
            runs=len(recs),
        )
        for items, recs in list(groups.items())[:max_blocks]
    ]


def weight_notes(records: Sequence[RunRecord]) -> list[str]:
    """Banners for numbers that must not be read as the real models': by weight source (``random``, ``tiny``),
    and for records whose recorded architecture is not their registered model's (whatever the source)."""
    sources = sorted({r.spec.weights for r in records if source_banner_applies(r)})
    return [WEIGHT_NOTES[s] for s in sources if s in WEIGHT_NOTES] + architecture_notes(records)


def scenario_infos(records: Sequence[RunRecord]) -> list[ScenarioInfo]:
    """Distinct (scenario, prompt set, negative prompt) combinations with their run counts."""
    groups: dict[tuple[str, str, str, str], list[RunRecord]] = {}
    for rec in records:
        spec = rec.spec
        key = (spec.scenario, spec.scenario_file or "", spec.prompt_set, spec.negative_prompt or "")
        groups.setdefault(key, []).append(rec)
    return [
        ScenarioInfo(name, file, prompts, ", ".join(sorted({r.spec.language for r in recs})), negative, len(recs))
        for (name, file, prompts, negative), recs in groups.items()
    ]


def run_warnings(records: Sequence[RunRecord], limit: int = 200) -> list[tuple[str, str]]:
    """Distinct (run key, warning) pairs in input order, at most ``limit``."""
    seen: dict[tuple[str, str], None] = {}
    for rec in records:
        for text in rec.warnings:
            seen.setdefault((rec.run_key, text), None)
    return list(seen)[:limit]


__all__ = [
    "ENV_PREFERRED",
    "MAX_ENV_VALUE_CHARS",
    "WEIGHT_NOTES",
    "EnvBlock",
    "Recorded",
    "ScenarioInfo",
    "environment_blocks",
    "run_warnings",
    "scenario_infos",
    "weight_notes",
]

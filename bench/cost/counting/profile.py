"""A workload's per-stage counts: the model's call plan applied to full-size components on meta.

Counts are cached per (model, role, component, batch, latent size, dtype, prompt tokens, source image)
in-process and on disk (:mod:`bench.cost.counting.cache`); a full-size UNet step takes well under a second to
count, the 8.9 B-parameter FLAN-UL2 encoder a few seconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from bench.cost.counting.cache import cached_count, cached_json
from bench.cost.counting.inputs import component_call
from bench.cost.counting.meta import build_components, quiet, torch_dtype
from bench.cost.counting.ops import OpCount, count_call, largest_leaf_bytes, module_weight_bytes, parameter_leaves
from bench.models.registry import call_plan, get_model
from bench.spec import STAGES, Workload


@dataclass(frozen=True)
class StagePart:
    """One component's share of a stage: called ``repeats`` times per pipeline call at ``batch``."""

    stage: str
    role: str
    component: str
    batch: int
    repeats: float
    count: OpCount
    dtype: str = ""  # the dtype the call runs in ("" = the workload's)


@dataclass(frozen=True)
class WorkloadProfile:
    """All counted parts of one workload, with per-image totals by stage."""

    workload: Workload
    parts: tuple[StagePart, ...]
    weights_by_component: dict[str, int] = field(default_factory=dict)  # "role/component" -> weight bytes
    largest_leaf_bytes: dict[str, int] = field(default_factory=dict)  # "role/component" -> biggest leaf module
    images: int = 1  # images one pipeline call returns
    leaf_modules: dict[str, int] = field(default_factory=dict)  # "role/component" -> modules holding parameters

    def stage_parts(self, stage: str) -> list[StagePart]:
        return [p for p in self.parts if p.stage == stage]

    def stage_flops_per_image(self, stage: str) -> float:
        return sum(p.repeats * p.count.total_flops for p in self.stage_parts(stage)) / self.images

    def stage_bytes_per_image(self, stage: str) -> float:
        return sum(p.repeats * p.count.total_bytes for p in self.stage_parts(stage)) / self.images

    def flops_per_image(self) -> float:
        return sum(self.stage_flops_per_image(s) for s in STAGES)

    def bytes_per_image(self) -> float:
        return sum(self.stage_bytes_per_image(s) for s in STAGES)


@functools.lru_cache(maxsize=256)
def count_component(
    model_id: str,
    role: str,
    name: str,
    batch: int,
    lat_h: int,
    lat_w: int,
    dtype: str,
    text_tokens: int | None = None,
    image_hw: tuple[int, int] | None = None,
) -> OpCount:
    """Count one call of a full-size component at a batch and latent size (cached in-process and on disk)."""

    def count() -> OpCount:
        module = build_components(model_id, role, dtype)[name]
        fn, args, kwargs = component_call(name, module, batch, lat_h, lat_w, torch_dtype(dtype), text_tokens, image_hw)
        with quiet():
            return count_call(fn, *args, weight_bytes=module_weight_bytes(module), **kwargs)

    key = (model_id, role, name, batch, lat_h, lat_w, dtype, text_tokens, list(image_hw or ()))
    return cached_count(key, count)


@functools.lru_cache(maxsize=64)
def component_sizes(model_id: str, role: str, dtype: str) -> dict[str, list[int]]:
    """Weight bytes and largest leaf-module bytes of each neural component of a role (cached in-process and on disk).

    fp16 and bf16 differ: the loaders keep other modules in fp32 for each (:mod:`bench.models.dtype_plan`).
    """

    def compute() -> dict[str, list[int]]:
        return {
            name: [module_weight_bytes(module), largest_leaf_bytes(module)]
            for name, module in build_components(model_id, role, dtype).items()
            if hasattr(module, "parameters")
        }

    return cached_json(("sizes", model_id, role, dtype), compute)


@functools.lru_cache(maxsize=64)
def component_leaf_modules(model_id: str, role: str, dtype: str) -> dict[str, list[int]]:
    """Modules holding parameters of each neural component of a role: what sequential offload moves one by one."""

    def compute() -> dict[str, list[int]]:
        return {
            name: [parameter_leaves(module)]
            for name, module in build_components(model_id, role, dtype).items()
            if hasattr(module, "parameters")
        }

    return cached_json(("leaf-modules", model_id, role, dtype), compute)


@functools.lru_cache(maxsize=256)
def profile_workload(w: Workload) -> WorkloadProfile:
    """Count every component call of a workload's call plan for the full-size model (cached per workload)."""
    plan = call_plan(w)
    model = get_model(w.model)
    lat_h, lat_w = plan.latent_hw
    parts: list[StagePart] = []
    weights: dict[str, int] = {}
    leaves: dict[str, int] = {}
    modules: dict[str, int] = {}
    for role_plan in plan.roles:
        role = role_plan.role
        for c in role_plan.calls:
            count = count_component(
                w.model, role, c.component, c.batch, lat_h, lat_w, c.dtype, c.text_tokens, c.image_hw
            )
            parts.append(StagePart(c.stage, role, c.component, c.batch, c.calls, count, c.dtype))
        shared = model.roles[role].shares  # taken from the main pipeline: held once
        for name, (weight_bytes, leaf_bytes) in component_sizes(w.model, role, w.dtype).items():
            if name not in shared:
                weights[f"{role}/{name}"] = weight_bytes
                leaves[f"{role}/{name}"] = leaf_bytes
        for name, (n_modules,) in component_leaf_modules(w.model, role, w.dtype).items():
            if name not in shared:
                modules[f"{role}/{name}"] = n_modules
    return WorkloadProfile(
        workload=w,
        parts=tuple(parts),
        weights_by_component=weights,
        largest_leaf_bytes=leaves,
        images=plan.images,
        leaf_modules=modules,
    )

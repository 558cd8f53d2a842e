"""What a pipeline is made of, and whether that is the registered full-size architecture of a model.

A record of ``hub`` weights says only where the weights came from; the directory may hold a tiny, pruned or
distilled model under a registered pipeline class, and numbers measured on it say nothing about the real one.
So a run describes what it built (per component: class, parameter count, dtypes, config hash) and compares it
with the registered architecture, built on the meta device from the shipped full-size configs (the same build
as ``random`` weights, without memory). The registered architectures are cached per process and on disk
(under ``KBENCH_CACHE_DIR``, keyed by the shipped configs and the library versions), since each child process
would otherwise rebuild them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bench.cache import cache_home, versions_key
from bench.models.configs import load_config
from bench.models.registry import get_model
from bench.models.types import ComponentSpec

# Relative difference of parameter counts still called "the same": 0.0005%. The registered variants closest
# to each other must stay apart: a Kandinsky 2.x inpaint UNet has 0.0014% more parameters than the
# text-to-image one (5 more input channels), Kandinsky 5 I2I 0.0029% more than T2I, FLUX.1 [schnell] 0.086%
# fewer than [dev] (no guidance embedder).
TOLERANCE = 5e-6
HASH_CHARS = 12
ARCHITECTURE_METHOD_VERSION = 1  # bump when what is described (or how it is hashed) changes
VOLATILE_CONFIG_KEYS = frozenset({"architectures", "dtype", "name_or_path", "torch_dtype", "transformers_version"})
FLOATING_DTYPES = frozenset({"float32", "float16", "bfloat16", "float64"})


@dataclass(frozen=True)
class ComponentArchitecture:
    """One neural component: where it sits (role, attribute), its class, size, dtype plan and config hash."""

    role: str
    name: str
    class_name: str
    parameters: int
    config_hash: str
    dtypes: dict[str, int] = field(default_factory=dict)  # dtype -> parameters in it (empty: not materialised)


@dataclass(frozen=True)
class Architecture:
    """The neural components of a model's pipelines (one entry per role and attribute)."""

    model: str
    components: tuple[ComponentArchitecture, ...]

    def by_key(self) -> dict[tuple[str, str], ComponentArchitecture]:
        return {(c.role, c.name): c for c in self.components}


@dataclass(frozen=True)
class ArchitectureMatch:
    """The verdict of :func:`match`: whether the built components are the registered ones, and what differs."""

    model: str
    matches: bool
    differences: tuple[str, ...]


def _public(value: Any) -> Any:
    """A config without private (``_``) keys, paths, versions and dtypes, recursively (for a stable hash)."""
    if isinstance(value, Mapping):
        return {
            str(k): _public(v)
            for k, v in value.items()
            if not str(k).startswith("_") and str(k) not in VOLATILE_CONFIG_KEYS
        }
    if isinstance(value, list | tuple):
        return [_public(v) for v in value]
    return value


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a component config that describes the architecture (what :func:`config_hash` hashes)."""
    result: dict[str, Any] = _public(config)
    return result


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256[:12] of the sorted JSON of the public config: equal configs give equal hashes across loaders."""
    text = json.dumps(public_config(config), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def module_config(module: Any) -> dict[str, Any]:
    """The config a diffusers or transformers module was built from, as a plain dict ({} when it has none)."""
    config = getattr(module, "config", None)
    if config is None:
        return {}
    if hasattr(config, "to_dict"):
        as_dict: dict[str, Any] = config.to_dict()
        return as_dict
    return dict(config) if isinstance(config, Mapping) else {}


def describe_module(role: str, name: str, module: Any) -> ComponentArchitecture:
    """Class, parameter count, parameters per dtype and config hash of one built module."""
    module = getattr(module, "_orig_mod", module)  # a torch.compile wrapper: describe the model inside
    dtypes: dict[str, int] = {}
    for param in module.parameters():
        key = str(param.dtype).removeprefix("torch.")
        dtypes[key] = dtypes.get(key, 0) + int(param.numel())
    return ComponentArchitecture(
        role=role,
        name=name,
        class_name=type(module).__name__,
        parameters=sum(dtypes.values()),
        config_hash=config_hash(module_config(module)),
        dtypes=dict(sorted(dtypes.items())),
    )


def describe_pipeline(role: str, pipe: Any) -> list[ComponentArchitecture]:
    """The neural components of one built diffusers pipeline (tokenizers, schedulers, processors left out)."""
    import torch

    out = []
    for name, component in sorted(pipe.components.items()):
        inner = getattr(component, "_orig_mod", component)
        if isinstance(inner, torch.nn.Module):
            out.append(describe_module(role, name, inner))
    return out


def run_roles(model_id: str, task: str, refiner: bool = False) -> tuple[str, ...]:
    """The registry roles a run of ``task`` builds, in order (the refiner last when asked for)."""
    roles = get_model(model_id).task_roles[task]
    return (*roles, "refiner") if refiner else tuple(roles)


def describe_pipelines(pipes: Mapping[str, Any], model_id: str, task: str, refiner: bool = False) -> Architecture:
    """What :func:`bench.models.build.build_pipelines` built for a run, per registry role."""
    from bench.models.build import PIPE_KEYS

    components: list[ComponentArchitecture] = []
    for role in run_roles(model_id, task, refiner):
        pipe = pipes.get(PIPE_KEYS.get(role, role))
        if pipe is not None:
            components += describe_pipeline(role, pipe)
    return Architecture(model=model_id, components=tuple(components))


def is_neural(component: ComponentSpec) -> bool:
    """Whether a registry component is a torch module (not a tokenizer, scheduler or processor)."""
    if component.tokenizer_for is not None:
        return False
    return not component.class_name.endswith(("Scheduler", "Processor", "processor"))


def _cache_path(model_id: str, role: str) -> Path | None:
    """Where a registered role's architecture is kept on disk (None: ``KBENCH_CACHE_DIR=off``)."""
    home = cache_home()
    if home is None:
        return None
    root = home / "architectures"
    components = get_model(model_id).roles[role].components
    texts = [json.dumps(load_config(c.config, "random"), sort_keys=True) for c in components if is_neural(c)]
    key = f"v{ARCHITECTURE_METHOD_VERSION}|{versions_key()}|{model_id}|{role}|" + "|".join(texts)
    return root / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.json"


def _read_cached(path: Path | None) -> list[ComponentArchitecture] | None:
    if path is None:
        return None
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [ComponentArchitecture(**row) for row in rows]
    except (OSError, ValueError, TypeError):
        return None  # absent or damaged: rebuild


def _write_cached(path: Path | None, components: Sequence[ComponentArchitecture]) -> None:
    if path is None:
        return
    rows = [
        {"role": c.role, "name": c.name, "class_name": c.class_name, "parameters": c.parameters,
         "config_hash": c.config_hash}
        for c in components
    ]  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(rows, fh)
        os.replace(tmp, path)  # concurrent writers: the last complete file wins
    except OSError:
        pass  # a read-only cache is no reason to lose a run


@lru_cache(maxsize=32)
def registered_role(model_id: str, role: str) -> tuple[ComponentArchitecture, ...]:
    """The registered full-size neural components of one role, built on the meta device from shipped configs."""
    path = _cache_path(model_id, role)
    cached = _read_cached(path)
    if cached is not None:
        return tuple(cached)
    import torch

    from bench.models.build import build_component

    out = []
    for spec in get_model(model_id).roles[role].components:
        if is_neural(spec):
            module = build_component(spec, "random", "meta", torch.float16)
            described = describe_module(role, spec.name, module)
            out.append(ComponentArchitecture(role, spec.name, described.class_name, described.parameters,
                                             described.config_hash))  # fmt: skip
    _write_cached(path, out)
    return tuple(out)


def registered_architecture(model_id: str, roles: Sequence[str]) -> Architecture:
    """The registered full-size architecture of ``roles`` of a model (meta build, cached)."""
    components = tuple(c for role in roles for c in registered_role(model_id, role))
    return Architecture(model=model_id, components=components)


def _count_difference(key: str, built: int, registered: int) -> str:
    change = (built - registered) / registered * 100 if registered else float("inf")
    shown = f"{change:+.2f}"
    if abs(change) < 0.01 or (shown == "-100.00" and built > 0):  # never rounded to "no change" or "nothing left"
        shown = f"{change:+.4f}"
    return f"{key}: {built:,} parameters, registered {registered:,} ({shown}%)"


def match(built: Architecture, registered: Architecture, tolerance: float = TOLERANCE) -> ArchitectureMatch:
    """Same components, classes and parameter counts (within ``tolerance``, relative) as the registered model?

    Stored dtypes outside the floating-point ones (int8, uint8, float8: a quantized checkpoint) also differ:
    such a model computes differently from the registered one even with the same parameter count.
    """
    diffs: list[str] = []
    have, want = built.by_key(), registered.by_key()
    for key, reg in want.items():
        label = "/".join(key)
        got = have.get(key)
        if got is None:
            diffs.append(f"{label}: missing (registered {reg.class_name}, {reg.parameters:,} parameters)")
            continue
        if got.class_name != reg.class_name:
            diffs.append(f"{label}: class {got.class_name}, registered {reg.class_name}")
        if abs(got.parameters - reg.parameters) > tolerance * max(reg.parameters, 1):
            diffs.append(_count_difference(label, got.parameters, reg.parameters))
        quantized = sorted(d for d in got.dtypes if d not in FLOATING_DTYPES)
        if quantized:
            diffs.append(f"{label}: parameters stored as {', '.join(quantized)} (quantized)")
    for key, got in have.items():
        if key not in want:
            diffs.append(f"{'/'.join(key)}: {got.class_name} is not in the registered {registered.model}")
    return ArchitectureMatch(model=registered.model, matches=not diffs, differences=tuple(diffs))


def match_run(built: Architecture, model_id: str, task: str, refiner: bool = False) -> ArchitectureMatch:
    """Compare what a run built with the registered architecture of the roles that run builds."""
    return match(built, registered_architecture(model_id, run_roles(model_id, task, refiner)))


__all__ = [
    "TOLERANCE",
    "Architecture",
    "ArchitectureMatch",
    "ComponentArchitecture",
    "config_hash",
    "describe_module",
    "describe_pipeline",
    "describe_pipelines",
    "is_neural",
    "match",
    "match_run",
    "module_config",
    "public_config",
    "registered_architecture",
    "registered_role",
    "run_roles",
]

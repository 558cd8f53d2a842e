"""Limits on a saved component's ``config.json``, checked before anything is built from it.

``kbench models --check DIR`` builds each neural component of a directory on the meta device. The meta
device allocates no tensor memory, but every layer is still a Python object: a config with ``num_layers:
1000000`` once grew past 4 GB and kept growing. So a config is read boundedly and checked against the
registered architectures first, and the build itself runs under a module budget:

* every integer size (a width, a channel or layer count, ``block_out_channels`` items) is at most
  :data:`SIZE_FACTOR` times the largest value the registered configs of the component's class give for
  that key, and not negative; a string or a fraction where they give integers is refused, and so is an
  empty list where they give a non-empty one (``block_out_channels: []``), or a list more than
  :data:`SIZE_FACTOR` times as long as theirs (a list of a key they never give: as long as an unknown integer
  may be large);
* a key the registered configs of the class leave out is compared with the class's own default, then with
  the same key of any registered config; a key none of them has is held to :data:`SIZE_FACTOR` times the
  largest integer of the class's registered configs;
* ids and indexes (``pad_token_id``, ``fullatt_block_indexes``) are not sizes and are left to the
  constructor; numbers must be finite, the file at most :data:`MAX_CONFIG_BYTES` and nested at most
  :data:`MAX_CONFIG_DEPTH` deep;
* factors multiply (eight times the blocks, each with eight times the layers), so the build counts the
  modules it creates and stops past :data:`MAX_BUILT_MODULES`.

A config past a limit is one :class:`~bench.errors.ModelError` line naming the file, the field, the value and
the limit (exit code 2). Limits are generous on purpose: a variant of a registered model (pruned, distilled,
a few more layers) is compared and reported as different, never refused.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bench.errors import ModelError, clip, located
from bench.files import decode_text, read_bytes_capped
from bench.models.configs import load_config
from bench.models.registry import MODELS
from bench.models.types import ComponentSpec

SIZE_FACTOR = 8  # a saved config's size, list length or unknown integer: at most 8x the registered reference
MAX_CONFIG_BYTES = 1 << 20  # a component config.json is a few KB
MAX_CONFIG_DEPTH = 16  # nesting of objects and lists (registered configs nest 3 deep)
LARGEST_REGISTERED_MODULES = 2_750  # modules of the largest registered component (the Kandinsky 3 UNet)
MAX_BUILT_MODULES = SIZE_FACTOR * LARGEST_REGISTERED_MODULES  # a build creating more stops (under 100 MB)
INDEX_SUFFIXES = ("_id", "_ids", "_idx", "_index", "_indexes", "_indices")  # positions and ids, not sizes


@dataclass
class Reference:
    """What a set of configs gives for one key: the largest integer, the longest list, and the value kinds."""

    source: str  # what the values come from, as a message names it
    largest: int | None = None
    longest: int | None = None  # the longest list (None: never a list)
    shortest: int | None = None  # the shortest list
    kinds: set[str] = field(default_factory=set)  # of the values and list items: "int", "float", "str", ...

    @property
    def sized(self) -> bool:
        """Integers (or lists of them) and nothing but numbers: a size, a count or a list of them."""
        return "int" in self.kinds and not self.kinds & {"str", "bool", "float", "dict"}


@dataclass(frozen=True)
class ConfigLimits:
    """The references one component class is checked against, most specific first."""

    class_name: str
    layers: tuple[dict[str, Reference], ...]  # registered configs of the class, its defaults, all registered
    ceiling: int  # SIZE_FACTOR x the largest integer of the class's registered configs (else of all)
    ceiling_source: str
    aliases: Mapping[str, str]  # a transformers config's attribute_map: num_hidden_layers -> num_layers (T5)

    def reference(self, key: str) -> Reference | None:
        for layer in self.layers:
            if key in layer:
                return layer[key]
        return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "list"
    return "dict" if isinstance(value, Mapping) else "other"


def _scan(configs: list[Mapping[str, Any]], source: str) -> dict[str, Reference]:
    """Per key (at any depth): what ``configs`` give; list items count under their list's key."""
    refs: dict[str, Reference] = {}

    def visit(key: str, value: Any) -> None:
        if value is None:  # "use the default": says nothing about the key's size or kind
            return
        ref = refs.setdefault(key, Reference(source))
        if isinstance(value, list | tuple):
            ref.longest = max(ref.longest or 0, len(value))
            ref.shortest = min(ref.shortest if ref.shortest is not None else len(value), len(value))
            for item in value:
                visit(key, item)
            return
        ref.kinds.add(_kind(value))
        if isinstance(value, Mapping):
            for k, v in value.items():
                visit(str(k), v)
        elif _kind(value) == "int":
            ref.largest = max(ref.largest if ref.largest is not None else value, value)

    for config in configs:
        for k, v in config.items():
            if not str(k).startswith("_"):
                visit(str(k), v)
    return refs


def registered_component_specs() -> list[ComponentSpec]:
    """Every registered neural component, once per shipped config (what the limits are derived from)."""
    from bench.models.architecture import is_neural

    seen: dict[str, ComponentSpec] = {}
    for spec in MODELS.values():
        for role in spec.roles.values():
            for component in role.components:
                if is_neural(component):
                    seen.setdefault(component.config, component)
    return [seen[k] for k in sorted(seen)]


@lru_cache(maxsize=1)
def registered_configs() -> dict[str, tuple[dict[str, Any], ...]]:
    """Class name -> the shipped full-size configs of every registered neural component of that class."""
    out: dict[str, list[dict[str, Any]]] = {}
    for component in registered_component_specs():
        out.setdefault(component.class_name, []).append(load_config(component.config, "random"))
    return {name: tuple(configs) for name, configs in sorted(out.items())}


def _defaults(cls: Any) -> tuple[dict[str, Any], Mapping[str, str]]:
    """A class's default config (diffusers: its constructor defaults; transformers: its config class's) and
    the transformers attribute aliases; empty where the class has neither."""
    config_class = getattr(cls, "config_class", None)
    if config_class is not None and hasattr(config_class, "from_pretrained"):  # transformers
        aliases = dict(getattr(config_class, "attribute_map", {}) or {})
        try:
            return dict(config_class().to_dict()), aliases
        except Exception:  # a config class without defaults: no reference from it
            return {}, aliases
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return {}, {}
    return {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}, {}


def _largest_int(refs: Mapping[str, Reference]) -> int:
    return max((r.largest for r in refs.values() if r.largest is not None), default=1)


@lru_cache(maxsize=64)
def limits_for(class_name: str, cls: Any = None) -> ConfigLimits:
    """The limits a saved config of ``class_name`` (the class object ``cls``, for its defaults) is held to."""
    everything = registered_configs()
    own = _scan(list(everything.get(class_name, ())), f"the registered {class_name} configs")
    anyone = _scan([c for configs in everything.values() for c in configs], "the registered configs")
    defaults, aliases = _defaults(cls) if cls is not None else ({}, {})
    if own:
        ceiling, ceiling_source = _largest_int(own), f"the registered {class_name} configs"
    else:
        ceiling, ceiling_source = _largest_int(anyone), "the registered configs"
    return ConfigLimits(
        class_name=class_name,
        layers=(own, _scan([defaults], f"the {class_name} defaults"), anyone),
        ceiling=SIZE_FACTOR * ceiling,
        ceiling_source=f"{SIZE_FACTOR}x the largest integer of {ceiling_source}, {ceiling:,}",
        aliases=aliases,
    )


def config_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion (a scalar is 0)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def read_component_config(path: Path) -> dict[str, Any]:
    """A component's ``config.json``: a regular file within :data:`MAX_CONFIG_BYTES`, a JSON object nested at
    most :data:`MAX_CONFIG_DEPTH` deep.

    Raises:
        ModelError: naming the file (one line).
    """
    text = decode_text(read_bytes_capped(path, "component config", ModelError, MAX_CONFIG_BYTES), path,
                       "component config", ModelError)  # fmt: skip
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise ModelError(located(f"not valid JSON ({str(exc).splitlines()[0][:120]})", file=path)) from None
    except RecursionError:
        raise ModelError(located(f"nested deeper than {MAX_CONFIG_DEPTH} levels", file=path)) from None
    if not isinstance(config, dict):
        raise ModelError(located("must be a JSON object of the component's settings", file=path))
    if config_depth(config) > MAX_CONFIG_DEPTH:
        raise ModelError(located(f"nested deeper than {MAX_CONFIG_DEPTH} levels", file=path))
    return config


def _is_index(key: str) -> bool:
    return key.endswith(INDEX_SUFFIXES)


def _check_int(value: int, where: str, key: str, limits: ConfigLimits, path: Path) -> None:
    ref = limits.reference(key)
    if ref is not None and ref.sized and ref.largest is not None:
        if value < 0:
            raise ModelError(located(f"{clip(value)} is negative; a size or count is 0 or more", file=path,
                                     field=where))  # fmt: skip
        limit = SIZE_FACTOR * max(ref.largest, 1)
        if value > limit:
            raise ModelError(
                located(
                    f"{clip(value)} is over the limit {limit:,} ({SIZE_FACTOR}x the largest {key} of "
                    f"{ref.source}, {ref.largest:,}); nothing is built from a config this size",
                    file=path,
                    field=where,
                )
            )
        return
    if ref is not None and "float" in ref.kinds:
        return  # a float setting (an epsilon, a scale) written as a whole number: not a size
    if abs(value) > limits.ceiling:
        raise ModelError(
            located(f"{clip(value)} is over the limit {limits.ceiling:,} ({limits.ceiling_source})", file=path,
                    field=where)
        )  # fmt: skip


def _check_value(value: Any, where: str, key: str, limits: ConfigLimits, path: Path) -> None:
    """Check one value of the config (recursively), naming its dotted field on a failure."""
    if isinstance(value, dict):
        for k, v in value.items():
            name = str(k)
            if not name.startswith("_"):  # _class_name, _diffusers_version: metadata, never built from
                _check_value(v, f"{where}.{name}" if where else name, name, limits, path)
        return
    ref = limits.reference(key)
    if isinstance(value, list):
        # a per-layer list of a key no reference gives (layer_types) may be as long as an integer may be large
        longest = SIZE_FACTOR * ref.longest if ref is not None and ref.longest else limits.ceiling
        if len(value) > longest:
            raise ModelError(located(f"a list of {len(value):,} items; at most {longest:,}", file=path,
                                     field=where))  # fmt: skip
        if not value and ref is not None and ref.shortest:
            raise ModelError(
                located(f"an empty list; {ref.source} give {ref.shortest} to {ref.longest} items", file=path,
                        field=where)
            )  # fmt: skip
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]", key, limits, path)
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ModelError(located(f"{value} is not a finite number", file=path, field=where))
    if _is_index(key) or value is None:
        return
    if ref is not None and ref.sized and isinstance(value, str | bool | float):
        raise ModelError(
            located(f"{clip(value)} is not an integer ({ref.source} give integers up to {ref.largest:,})",
                    file=path, field=where)
        )  # fmt: skip
    if isinstance(value, int) and not isinstance(value, bool):
        _check_int(value, where, key, limits, path)


def check_component_config(config: Mapping[str, Any], class_name: str, cls: Any, path: Path) -> None:
    """Refuse a config of ``class_name`` past the limits (module docstring) before anything is built from it.

    Raises:
        ModelError: naming ``path``, the field, its value and the limit (one line).
    """
    limits = limits_for(class_name, cls)
    for key, value in config.items():
        name = str(key)
        if not name.startswith("_"):
            _check_value(value, name, limits.aliases.get(name, name), limits, path)


class ModuleBudgetExceeded(Exception):
    """A build created more modules than its budget allows (raised from inside the constructor)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} modules")
        self.limit = limit


@contextmanager
def module_budget(limit: int = MAX_BUILT_MODULES) -> Iterator[None]:
    """Stop a build (with :class:`ModuleBudgetExceeded`) once it has created ``limit`` submodules.

    Per-key limits multiply (blocks times layers per block times attention layers), so this bounds what the
    build holds in memory whatever the config: torch calls the hook on every submodule registration.
    """
    from torch.nn.modules.module import register_module_module_registration_hook

    count = 0

    def count_module(module: Any, name: str, submodule: Any) -> None:
        nonlocal count
        count += 1
        if count > limit:
            raise ModuleBudgetExceeded(limit)

    handle = register_module_module_registration_hook(count_module)
    try:
        yield
    finally:
        handle.remove()


__all__ = [
    "INDEX_SUFFIXES",
    "LARGEST_REGISTERED_MODULES",
    "MAX_BUILT_MODULES",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "SIZE_FACTOR",
    "ConfigLimits",
    "ModuleBudgetExceeded",
    "Reference",
    "check_component_config",
    "config_depth",
    "limits_for",
    "module_budget",
    "read_component_config",
    "registered_component_specs",
    "registered_configs",
]

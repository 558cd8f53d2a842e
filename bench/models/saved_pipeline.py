"""Check a saved pipeline directory against the registered model it claims to be, from its configs alone.

``model_index.json`` names the pipeline class and its components; each neural component is built from its
``config.json`` on the meta device (shapes only: no weights are read, nothing is allocated) and compared with
the registered full-size architecture (:mod:`bench.models.architecture`). Every config is read and checked
against limits derived from the registered configs (:mod:`bench.models.config_limits`) before any build, and
each build runs under a module budget, so a hostile config costs one line, not the machine's memory. The
pipeline class picks the registered model and role when ``--model`` does not; FLUX.1 [dev] and [schnell]
share a class, so the candidate that matches (else the closest) is reported.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import SHOWN_CHARS, ModelError, clip, located
from bench.models.architecture import (
    Architecture,
    ArchitectureMatch,
    ComponentArchitecture,
    describe_module,
    is_neural,
    match,
    module_config,
    public_config,
    registered_architecture,
)
from bench.models.config_limits import (
    LARGEST_REGISTERED_MODULES,
    MAX_BUILT_MODULES,
    MAX_CONFIG_DEPTH,
    SIZE_FACTOR,
    ModuleBudgetExceeded,
    check_component_config,
    config_depth,
    module_budget,
    read_component_config,
)
from bench.models.registry import MODELS, get_model

MODEL_INDEX = "model_index.json"
MAX_INDEX_BYTES = 1 << 20
MAX_CONFIG_NOTES = 6  # differing config keys shown per component


@dataclass(frozen=True)
class DirectoryCheck:
    """A saved pipeline directory compared with a registered model's role."""

    directory: Path
    pipeline_class: str
    model: str
    role: str
    built: Architecture
    registered: Architecture
    verdict: ArchitectureMatch
    config_notes: tuple[str, ...] = ()  # config keys that differ, for components whose config hash differs
    others: tuple[str, ...] = ()  # other registered models of the same pipeline class, not chosen

    @property
    def matches(self) -> bool:
        return self.verdict.matches


def read_model_index(directory: Path) -> dict[str, Any]:
    """``model_index.json`` of a pipeline directory; a one-line :class:`ModelError` when there is none."""
    if not directory.is_dir():
        raise ModelError(f"{directory}: not a directory (give a saved pipeline directory with {MODEL_INDEX})")
    path = directory / MODEL_INDEX
    if not path.is_file():
        raise ModelError(f"{directory}: not a pipeline directory (no {MODEL_INDEX})")
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise ModelError(f"{path}: larger than {MAX_INDEX_BYTES:,} bytes; a {MODEL_INDEX} is a few hundred")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    except RecursionError:
        raise ModelError(f"{path}: nested deeper than {MAX_CONFIG_DEPTH} levels") from None
    if config_depth(index) > MAX_CONFIG_DEPTH:
        raise ModelError(f"{path}: nested deeper than {MAX_CONFIG_DEPTH} levels")
    if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
        raise ModelError(f"{path}: _class_name: missing; a diffusers {MODEL_INDEX} names its pipeline class")
    return index


def _component_entries(directory: Path, index: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(name, library, class name)`` of each component ``model_index.json`` lists (``[library, class]``).

    A name is a folder of the pipeline directory, so one that is not a plain folder name (``../x``, ``/etc``,
    longer than a file system allows) is refused rather than read outside it or printed whole.
    """
    out = []
    for name, entry in sorted(index.items()):
        if name.startswith("_") or not isinstance(entry, list) or len(entry) != 2:
            continue
        if not all(isinstance(e, str) for e in entry):
            continue  # [null, null]: a component left out of the saved pipeline
        if name in ("", ".", "..") or len(name) > 255 or any(c in name for c in "/\\\0"):
            raise ModelError(located("not a component folder name", file=directory / MODEL_INDEX, field=clip(name)))
        out.append((name, entry[0], entry[1]))
    return out


def _role_classes(model_id: str) -> dict[str, set[str]]:
    """Role -> the pipeline classes a directory of that role may name (its own, and task variants)."""
    spec = get_model(model_id)
    out: dict[str, set[str]] = {}
    for name, role in spec.roles.items():
        out[name] = {role.pipeline_class}
        if name != "prior":
            out[name] |= {c for task, c in spec.task_pipeline_class.items() if name in spec.task_roles.get(task, ())}
    return out


def candidates(pipeline_class: str, model_id: str | None = None) -> list[tuple[str, str]]:
    """(model, role) pairs whose pipeline class is ``pipeline_class``: the role's own class first."""
    exact, variant = [], []
    for model in [model_id] if model_id else sorted(MODELS):
        for role, classes in _role_classes(model).items():
            if pipeline_class == get_model(model).roles[role].pipeline_class:
                exact.append((model, role))
            elif pipeline_class in classes:
                variant.append((model, role))
    return exact + variant


def _component_class(library: str, class_name: str) -> Any:
    """The class a ``model_index.json`` entry names (diffusers, transformers, or a diffusers pipeline module)."""
    from bench.models.quiet_import import import_diffusers

    import_diffusers()  # the first import of a process, without optional libraries' noise on stderr
    modules = {"diffusers": "diffusers", "transformers": "transformers"}
    module_name = modules.get(library, f"diffusers.pipelines.{library}")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        return None


def _build_from_saved_config(cls: Any, folder: Path) -> Any:
    """A module of ``cls`` from ``folder/config.json`` on the meta device (no weights read), within the
    module budget (:func:`~bench.models.config_limits.module_budget`)."""
    import torch

    from bench.models.build import materialise_on

    with materialise_on("meta", torch.float16), module_budget():
        if hasattr(cls, "config_class") and hasattr(cls.config_class, "from_pretrained"):  # transformers
            return cls(cls.config_class.from_pretrained(str(folder)))
        return cls.from_config(cls.load_config(str(folder)))


def describe_directory(directory: Path, role: str, index: dict[str, Any]) -> tuple[Architecture, dict[str, Any]]:
    """The neural components a saved pipeline declares, built from their configs; also the modules built.

    Every config is read and checked (:func:`~bench.models.config_limits.check_component_config`) before the
    first build, so a bad one costs nothing to refuse.

    Raises:
        ModelError: a config is missing, unreadable, past a limit, or cannot be built (one line naming it).
    """
    import torch

    planned: list[tuple[str, str, Any, Path]] = []
    for name, library, class_name in _component_entries(directory, index):
        cls = _component_class(library, class_name)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            continue  # tokenizers, schedulers, processors (and classes this diffusers does not know)
        folder = directory / name
        if not (folder / "config.json").is_file():
            raise ModelError(f"{folder}: config.json missing (model_index.json lists {name} as {class_name})")
        config = read_component_config(folder / "config.json")
        check_component_config(config, class_name, cls, folder / "config.json")
        planned.append((name, class_name, cls, folder))
    components: list[ComponentArchitecture] = []
    modules: dict[str, Any] = {}
    for name, class_name, cls, folder in planned:
        where = folder / "config.json"
        try:
            module = _build_from_saved_config(cls, folder)
        except ModuleBudgetExceeded:
            raise ModelError(
                located(
                    f"building {class_name} from it made more than {MAX_BUILT_MODULES:,} modules ({SIZE_FACTOR}x "
                    f"the {LARGEST_REGISTERED_MODULES:,} of the largest registered component); nothing is built "
                    "from a config this size",
                    file=where,
                )
            ) from None
        except Exception as exc:  # the library refusing the user's config, whatever it raises: one line
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            raise ModelError(located(f"cannot build {class_name} ({clip(reason)})", file=where)) from None
        modules[name] = module
        components.append(describe_module(role, name, module))
    return Architecture(model=str(index["_class_name"]), components=tuple(components)), modules


def _json_shown(value: Any) -> str:
    """A config value as a note shows it: JSON, cut to about :data:`~bench.errors.SHOWN_CHARS` characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text):,} chars)"


def _config_notes(role: str, modules: dict[str, Any], built: Architecture, registered: Architecture) -> list[str]:
    """Config keys whose values differ, for components of the same class whose config hashes differ."""
    import torch

    from bench.models.build import build_component

    want = registered.by_key()
    out: list[str] = []
    for comp in built.components:
        reg = want.get((role, comp.name))
        if reg is None or reg.class_name != comp.class_name or reg.config_hash == comp.config_hash:
            continue
        spec = next(c for c in get_model(registered.model).roles[role].components if c.name == comp.name)
        if not is_neural(spec):
            continue
        theirs = public_config(module_config(build_component(spec, "random", "meta", torch.float16)))
        ours = public_config(module_config(modules[comp.name]))
        keys = sorted(k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
        shown = [f"{k[:80]} {_json_shown(ours[k])} (registered {_json_shown(theirs[k])})"
                 for k in keys[:MAX_CONFIG_NOTES]]  # fmt: skip
        more = f", {len(keys) - MAX_CONFIG_NOTES} more" if len(keys) > MAX_CONFIG_NOTES else ""
        if shown:
            out.append(f"{role}/{comp.name}: config " + "; ".join(shown) + more)
    return out


def check_directory(directory: Path, model_id: str | None = None) -> DirectoryCheck:
    """Compare a saved pipeline directory with the registered model it claims to be (``model_id`` or its class).

    Raises:
        ModelError: the directory is missing or not a pipeline directory, the model is unknown, or no
            registered model uses its pipeline class (one line each; exit code 2).
    """
    if model_id is not None:
        get_model(model_id)  # an unknown id is bad input, before the directory is read
    index = read_model_index(directory)
    pipeline_class = str(index["_class_name"])
    pairs = candidates(pipeline_class, model_id)
    mismatch_class = False
    if not pairs and model_id is not None:  # a claimed model of another pipeline class: compared, and differs
        spec = get_model(model_id)
        pairs, mismatch_class = [(model_id, next(iter(spec.task_roles.values()))[0])], True
    if not pairs:
        known = sorted({r.pipeline_class for m in MODELS.values() for r in m.roles.values()})
        raise ModelError(
            f"{directory / MODEL_INDEX}: _class_name: {pipeline_class!r} is not the pipeline class of any "
            f"registered model (known: {', '.join(known)}); pass --model to compare with one anyway"
        )
    checks = []
    for model, role in pairs:
        built, modules = describe_directory(directory, role, index)
        built = Architecture(model=model, components=built.components)
        registered = registered_architecture(model, (role,))
        verdict = match(built, registered)
        if mismatch_class:
            classes = ", ".join(sorted(_role_classes(model)[role]))
            diff = f"pipeline class {pipeline_class}, registered {model} {role}: {classes}"
            verdict = ArchitectureMatch(model, False, (diff, *verdict.differences))
        checks.append((verdict, model, role, built, registered, modules))
    best = min(checks, key=lambda c: (not c[0].matches, len(c[0].differences)))  # a match, else the closest
    verdict, model, role, built, registered, modules = best
    others = tuple(f"{m} {r}" for m, r in pairs if (m, r) != (model, role))
    notes = tuple(_config_notes(role, modules, built, registered))
    return DirectoryCheck(directory, pipeline_class, model, role, built, registered, verdict, notes, others)


__all__ = ["MODEL_INDEX", "DirectoryCheck", "candidates", "check_directory", "describe_directory", "read_model_index"]

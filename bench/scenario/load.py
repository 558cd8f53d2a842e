"""Loading scenario files: YAML text -> validated models -> expanded runs, with errors that name
the file, the line (found by walking the composed YAML node tree), the field and what is allowed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from bench.errors import ScenarioError, clip, located
from bench.scenario.expand import DEFAULT_MAX_RUNS, expand, matrix_size
from bench.scenario.outpaint import OutpaintBlock
from bench.scenario.schema import ScenarioFile, ScenarioSpec
from bench.scenario.serve import ServeSpec
from bench.spec import RunSpec
from bench.yaml_files import read_yaml_document

_BENCH_DIR = Path(__file__).resolve().parent.parent  # the ``bench`` package, home of the bundled scenarios


def _node_line(node: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node reachable along ``path`` in a composed YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


_NAMED_FIELD = re.compile(r"^(\w+(?:\[\d+\]|\.\w+)*): (.*)$", re.S)


def _split_field(text: str) -> tuple[int | str, ...]:
    """``exclude[2].steps`` -> ``("exclude", 2, "steps")``, the form of a pydantic location."""
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"\w+", text))


def _field_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _first_error(err: ValidationError) -> tuple[tuple[int | str, ...], str]:
    e = err.errors()[0]
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith(("function-", "tuple["))))
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown field"
    elif e["type"] in ("literal_error",) and "expected" in e.get("ctx", {}):
        msg = f"must be one of {e['ctx']['expected']}, got {clip(e.get('input'))}"
    elif e["type"] == "finite_number":
        msg = "must be a finite number (not .nan or .inf)"
    return loc, msg[:600]


def _allowed_fields(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


def display_path(path: Path) -> str:
    """How a scenario file is named in results: relative to the working directory, ``bench/...`` for a
    bundled one, absolute only when neither applies (so results do not carry one machine's layout)."""
    resolved = path.resolve()
    for base, prefix in ((Path.cwd().resolve(), ""), (_BENCH_DIR, "bench/")):
        if resolved.is_relative_to(base):
            return prefix + resolved.relative_to(base).as_posix()
    return str(path)


def load_scenario_file(path: str | Path, *, max_runs: int = DEFAULT_MAX_RUNS) -> list[RunSpec]:
    """Read, validate and expand one scenario file; raise :class:`ScenarioError` with file, line and field.

    Args:
        path: the scenario file.
        max_runs: refuse a file whose scenarios expand to more combinations than this (before any is built).
    """
    path = Path(path)
    text, data, root = read_yaml_document(path, ScenarioError, "scenario file")  # root: lines for errors
    if data is None:
        raise ScenarioError(
            located("empty scenario file; it needs a 'scenarios:' list or a single scenario", file=path)
        )
    if not isinstance(data, dict):
        raise ScenarioError(located("top level must be a mapping with a 'scenarios:' list", file=path))
    sha = hashlib.sha256(text.encode()).hexdigest()
    single = "scenarios" not in data
    if single:
        data = {"scenarios": [data]}
    try:
        file_model = ScenarioFile.model_validate(data)
    except ValidationError as err:
        loc, msg = _first_error(err)
        if msg == "unknown field":
            msg += f"; allowed top-level fields: {_allowed_fields(ScenarioFile)}"
        raise ScenarioError(f"{path}:{_node_line(root, loc)}: {_field_path(loc)}: {msg}") from None
    runs: list[RunSpec] = []
    seen_names: set[str] = set()
    for index, raw in enumerate(file_model.scenarios):
        yaml_path: list[str | int] = [] if single else ["scenarios", index]
        if not isinstance(raw, dict):
            raise ScenarioError(f"{path}:{_node_line(root, yaml_path)}: scenarios[{index}]: must be a mapping")
        merged = {**file_model.defaults, **raw}
        merged.setdefault("name", f"{file_model.name or path.stem}-{index}")
        try:
            scenario = ScenarioSpec.model_validate(merged)
        except ValidationError as err:
            loc, msg = _first_error(err)
            if msg == "unknown field":
                blocks: dict[str, type[BaseModel]] = {"serve": ServeSpec, "outpaint": OutpaintBlock}
                block = blocks.get(str(loc[0]) if loc else "", ScenarioSpec)
                msg += f"; allowed: {_allowed_fields(block)}"
            named = _NAMED_FIELD.match(msg)  # a cross-field or per-entry check names its field
            if named and _split_field(named.group(1))[: len(loc)] == loc:
                loc, msg = _split_field(named.group(1)), named.group(2)
            line = _node_line(root, [*yaml_path, *loc]) if loc and loc[0] in raw else _node_line(root, yaml_path)
            name = clip(merged.get("name"), 80)
            raise ScenarioError(f"{path}:{line}: scenario {name}: {_field_path(loc)[:200]}: {msg}") from None
        if scenario.name in seen_names:
            raise ScenarioError(
                f"{path}:{_node_line(root, yaml_path)}: scenario name {clip(scenario.name)} is used twice"
            )
        seen_names.add(scenario.name)
        size = matrix_size(scenario)
        if len(runs) + size > max_runs:
            so_far = f", {len(runs) + size:,} with the scenarios before it" if runs else ""
            raise ScenarioError(
                f"{path}:{_node_line(root, yaml_path)}: scenario {clip(scenario.name, 80)}: its lists multiply to "
                f"{size:,} runs (before exclude:){so_far}, over the limit of {max_runs:,}; shorten the lists, split "
                "the file, or raise the limit with --max-runs N"
            )
        runs.extend(expand(scenario, source=display_path(path), sha256=sha))
    if not runs:
        raise ScenarioError(located("every combination is excluded; nothing to run", file=path))
    return runs


def load_scenarios(paths: Sequence[str | Path], *, max_runs: int = DEFAULT_MAX_RUNS) -> list[RunSpec]:
    """Load several files; a run key that appears twice across them is an error, and so are more than
    ``max_runs`` runs in all."""
    runs: list[RunSpec] = []
    keys: dict[str, tuple[str, str]] = {}
    for p in paths:
        for run in load_scenario_file(p, max_runs=max_runs):
            if run.run_key in keys:
                scenario, where = keys[run.run_key]
                raise ScenarioError(
                    located(f"run {run.run_key} is already defined in scenario {scenario!r} of {where}", file=p)
                )
            keys[run.run_key] = (run.scenario, display_path(Path(p)))
            runs.append(run)
        if len(runs) > max_runs:
            raise ScenarioError(
                located(
                    f"the files expand to {len(runs):,} runs in all, over the limit of {max_runs:,}; "
                    "raise it with --max-runs N",
                    file=p,
                )
            )
    return runs

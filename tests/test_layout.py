"""The package's shape: small modules, and imports that point one way between files and between rooms.

Imports are read from the source (every ``import`` and ``from ... import``, inside functions too, since a
deferred import still runs), so a cycle is found without importing anything.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(BENCH.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in BENCH.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The bench module an import names (``from bench.x import y`` may name the submodule ``bench.x.y``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("bench") and (target := _resolve(name)) and target != module:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    return {m: _imports(m) for m in MODULES}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "bench"


def test_no_module_is_over_the_size_limit():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_no_import_cycle_between_files():
    try:
        TopologicalSorter(_graph()).prepare()
    except CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None


def test_no_import_cycle_between_rooms():
    rooms: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        if _room(module) == "bench":
            continue  # the package root (version) is imported by every room
        rooms.setdefault(_room(module), set()).update(
            _room(t) for t in targets if _room(t) not in ("bench", _room(module))
        )
    try:
        TopologicalSorter(rooms).prepare()
    except CycleError as err:
        raise AssertionError(f"rooms import each other: {' -> '.join(err.args[1])}") from None


def test_the_leaf_modules_import_no_other_room():
    graph = _graph()
    assert graph["bench.spec"] == set()
    results = {t for m in MODULES if m.startswith("bench.results") for t in graph[m]}
    assert {_room(t) for t in results} <= {"results", "spec", "errors", "files", "stats"}
    assert {t for t in graph["bench.stats"] if t.startswith("bench")} == set()  # statistics: a leaf
    assert graph["bench.files"] == {"bench.errors"}  # input-file checks: a leaf every reader may use


def test_the_checker_sees_a_cycle():
    """The cycle check is not vacuous: a two-module cycle is reported."""
    graph = {"a": {"b"}, "b": {"a"}}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError:
        return
    raise AssertionError("a -> b -> a was not reported")

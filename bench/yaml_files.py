"""Safe, bounded reading of the project's YAML inputs (scenarios, GPU catalog, thresholds) with one-line errors.

``yaml.safe_load`` builds no arbitrary objects, but it still trusts a file's shape. This loader also refuses
what would make a small file expensive or ambiguous:

* a file that is not a regular UTF-8 text file under :data:`~bench.files.MAX_TEXT_BYTES` (see :mod:`bench.files`);
* aliases that expand past :data:`MAX_EXPANDED_BYTES` (a few hundred bytes of nested ``*alias`` lists stand for
  gigabytes once walked: "billion laughs"), aliases that refer to themselves, and nesting deeper than
  :data:`MAX_DEPTH`;
* a key given twice in one mapping (YAML's "last one wins" hides typos);

and it keeps timestamps as text (``2024-05-01`` stays a string, so ``2024-13-45`` is a plain value for the schema
to judge, not a crash in the date constructor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.errors import KbenchError, clip
from bench.files import MAX_TEXT_BYTES, read_text_capped

MAX_DEPTH = 64  # nesting of mappings and lists, aliases followed
MAX_EXPANDED_BYTES = 4 * MAX_TEXT_BYTES  # the document's size with every alias written out
_NODE_BYTES = 8  # what a list item or mapping entry adds to the expanded size, beside its text
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class _Refused(yaml.YAMLError):
    """A document this loader will not build; ``line`` is 1-based where known."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


_RESOLVERS = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` with timestamps kept as text, duplicate keys refused and nesting bounded."""

    yaml_implicit_resolvers = _RESOLVERS

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> Any:
        node: yaml.MappingNode = super().compose_mapping_node(anchor)
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
                continue
            if (key.tag, key.value) in seen:
                raise _Refused(f"key {clip(key.value)} is given twice in one mapping", key.start_mark)
            seen.add((key.tag, key.value))
        return node


def _as_text(loader: BoundedLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


BoundedLoader.add_constructor(_TIMESTAMP, _as_text)  # an explicit !!timestamp stays text too


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand past the limits, or refer to themselves.

    Iterative post-order walk, each distinct node measured once: the cost is the file's size, not the
    size it stands for.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = sum(size[id(k)] + _NODE_BYTES for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_EXPANDED_BYTES:
                raise _Refused(
                    f"aliases expand this document past {MAX_EXPANDED_BYTES:,} bytes; write the values out",
                    node.start_mark,
                )
            if depth[key] > MAX_DEPTH:
                raise _Refused(f"aliases nest deeper than {MAX_DEPTH} levels", node.start_mark)
            continue
        if key in size:
            continue
        if isinstance(node, yaml.ScalarNode):
            size[key], depth[key] = len(node.value), 0
            continue
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                raise _Refused("an alias refers to a node that contains it (a recursive structure)", kid.start_mark)
            if id(kid) not in size:
                stack.append((kid, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_yaml(text: str, where: str | Path, error: type[KbenchError]) -> tuple[Any, yaml.Node | None]:
    """``(data, root node)`` of one YAML document; the node carries line numbers for error messages.

    Raises:
        error: invalid YAML, more than one document, or a document refused by the bounds above; the message
            names ``where`` and, where known, the line.
    """
    loader = BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _check_expansion(root)
        return loader.construct_document(root), root
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"{where}:{mark.line + 1}" if mark else str(where)
        problem = getattr(exc, "problem", None) or exc
        raise error(f"{place}: not valid YAML ({str(problem)[:300]})") from None
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:  # an explicit tag's bad value
        detail = f"{type(exc).__name__}: {exc}"
        raise error(f"{where}: not valid YAML (a value cannot be read: {detail[:300]})") from None
    finally:
        loader.dispose()


def read_yaml_document(
    path: Path, error: type[KbenchError], what: str, max_bytes: int = MAX_TEXT_BYTES
) -> tuple[str, Any, yaml.Node | None]:
    """``(text, data, root node)`` of a YAML file, read through :func:`bench.files.read_text_capped`."""
    text = read_text_capped(path, what, error, max_bytes)
    data, root = parse_yaml(text, path, error)
    return text, data, root


def read_yaml(path: Path, error: type[KbenchError], what: str) -> tuple[str, Any]:
    """Return ``(text, data)`` of a YAML file loaded with the bounded safe loader (no arbitrary objects).

    Raises:
        error: the file cannot be read, is not a small regular UTF-8 file, or is not valid (bounded) YAML;
            the message names the file and, for syntax errors, the line.
    """
    text, data, _ = read_yaml_document(path, error, what)
    return text, data

"""A disk cache of component operation counts, so a fresh process does not recount them on meta.

Counting a full-size component on the meta device takes about a second each; a report or a
recommendation touches dozens. Counts depend only on the architecture (shipped configs), the call
shapes and the library versions that trace it, so they are stored under a key that includes those
versions and the counting method's version. ``KBENCH_CACHE_DIR`` moves the cache; ``KBENCH_CACHE_DIR=off``
disables it. A damaged entry is ignored and recounted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.cache import cache_home, versions_key

if TYPE_CHECKING:
    from bench.cost.counting.ops import OpCount

COUNT_METHOD_VERSION = 4  # bump when the counting rules change (2: the loaders' fp32-kept modules; 3: op classes;
# 4: the convolutions' workspace peak)


def cache_dir() -> Path | None:
    """Where counts are kept, or ``None`` when caching is off."""
    home = cache_home()
    return None if home is None else home / "op-counts"


def entry_key(*parts: object) -> str:
    text = f"v{COUNT_METHOD_VERSION}|{versions_key()}|" + "|".join(map(str, parts))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_count(parts: tuple[object, ...], count: Callable[[], OpCount]) -> OpCount:
    """Return the stored count for ``parts`` or compute, store and return it."""
    from bench.cost.counting.ops import OpCount

    directory = cache_dir()
    if directory is None:
        return count()
    path = directory / f"{entry_key(*parts)}.npz"
    try:
        with np.load(path) as data:
            return OpCount(
                flops=data["flops"],
                bytes=data["bytes"],
                weight_bytes=int(data["weight_bytes"]),
                activation_peak_bytes=int(data["activation_peak_bytes"]),
                kinds=data["kinds"],
                fp32=data["fp32"],
                workspace_peak_bytes=int(data["workspace_peak_bytes"]),
            )
    except (OSError, KeyError, ValueError):
        pass
    result = count()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                flops=result.flops,
                bytes=result.bytes,
                weight_bytes=np.int64(result.weight_bytes),
                activation_peak_bytes=np.int64(result.activation_peak_bytes),
                kinds=result.kind_codes(),
                fp32=result.fp32_mask(),
                workspace_peak_bytes=np.int64(result.workspace_peak_bytes),
            )
        os.replace(tmp, path)  # concurrent writers: the last complete file wins
    except OSError:
        pass  # a read-only home is no reason to fail a report
    return result


def cached_json(parts: tuple[object, ...], compute: Callable[[], dict[str, list[int]]]) -> dict[str, list[int]]:
    """Like :func:`cached_count` for small JSON-able facts (component sizes)."""
    directory = cache_dir()
    if directory is None:
        return compute()
    path = directory / f"{entry_key(*parts)}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    except (OSError, ValueError):
        pass
    result = compute()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".json.tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(result, fh)
        os.replace(tmp, path)
    except OSError:
        pass
    return result

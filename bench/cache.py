"""The project's one cache folder, and the library versions that key what is kept there.

Op counts, registered architectures, price offers and the A/B worktrees all live under one root, so one
setting moves (or turns off) all of them: ``KBENCH_CACHE_DIR`` (``off``: no cache), else
``$XDG_CACHE_HOME/kandinsky-bench``, else ``~/.cache/kandinsky-bench``.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

CACHE_VARIABLE = "KBENCH_CACHE_DIR"
TRACED_LIBRARIES = ("torch", "diffusers", "transformers")


def cache_home() -> Path | None:
    """The cache root, or None when ``KBENCH_CACHE_DIR=off``."""
    setting = os.environ.get(CACHE_VARIABLE)
    if setting == "off":
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kandinsky-bench"


def library_versions(libraries: tuple[str, ...] = TRACED_LIBRARIES) -> dict[str, str]:
    """Installed versions (``?`` when a library is not installed): a cached result is valid for these only."""
    out = {}
    for lib in libraries:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "?"
    return out


def versions_key(libraries: tuple[str, ...] = (*TRACED_LIBRARIES, "kandinsky-bench")) -> str:
    """:func:`library_versions` as one string for a cache key."""
    return ";".join(f"{lib}={v}" for lib, v in library_versions(libraries).items())


__all__ = ["CACHE_VARIABLE", "TRACED_LIBRARIES", "cache_home", "library_versions", "versions_key"]

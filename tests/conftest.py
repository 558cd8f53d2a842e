"""Shared fixtures: scenario files written to tmp paths, and a small CLI runner via real subprocesses.

Tiny pipelines are a few small matrix products per call: on two cores torch's default of one thread per core
makes them two to ten times slower (threads wait on each other), so the suite, and every child process it
starts, runs torch on one thread. Set before anything imports torch; the children inherit the variable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
# Commands size their tables to the terminal (COLUMNS when set): every child of the suite gets the width a pipe
# gets, whatever the terminal the suite runs in, or a library of the test process, put into the environment.
os.environ["COLUMNS"] = "120"
if "torch" in sys.modules:  # a plugin imported it first: the variable is read only at import
    sys.modules["torch"].set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, str], Path]:
    def _write(text: str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


def run_kbench(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None):
    """Run ``python -m bench ARGS`` as a real subprocess and return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(autouse=True, scope="session")
def _hermetic_count_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Operation counts are cached on disk; the suite uses its own empty cache, never the user's."""
    os.environ["KBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("op-counts"))

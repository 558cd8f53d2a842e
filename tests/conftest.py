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

# Modules whose tests share nothing costly at module scope, and which hold many or long tests: under the suite's
# two workers their tests are handed out one by one, so that a long module does not end the run on one worker
# while the other waits. Every other module goes to one worker whole, so its module-scoped servers, clusters,
# repositories and pipelines start once.
SPLIT_MODULES = frozenset(
    {
        "tests/cost/test_flops.py",
        "tests/cost/test_projection.py",
        "tests/cost/test_projection_bounds.py",
        "tests/hostile/test_model_configs.py",
        "tests/hostile/test_signals.py",
        "tests/measure/test_child.py",
        "tests/measure/test_runner.py",
        "tests/models/test_callplan.py",
        "tests/models/test_pipelines.py",
        "tests/workloads/test_combinations.py",
        "tests/workloads/test_outpaint.py",
    }
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's module-by-module scheduling, with the tests of :data:`SPLIT_MODULES` scheduled one by one.

    A scheduler rather than ``xdist_group`` marks: the marks work by rewriting node ids, which this pytest no
    longer reads back, so every test would be scheduled on its own and module fixtures would start twice.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ModuleOrTestScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if module in SPLIT_MODULES else module

    return ModuleOrTestScheduling(config, log)


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


# What the cache home holds that depends only on the code and the library versions (writes are atomic renames):
# the two workers of the suite share these, so an operation count or an architecture is computed once a run.
SHARED_CACHE_PARTS = ("op-counts", "architectures")


@pytest.fixture(autouse=True, scope="session")
def _hermetic_count_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Operation counts are cached on disk; the suite uses its own empty cache, never the user's.

    Each worker has a cache home of its own (prices and offers written by one test must not reach the other
    worker's tests), whose pure parts link to one folder of the run: the base temporary folder's parent
    is shared by the workers of one run and by no other run.
    """
    home = tmp_path_factory.mktemp("op-counts")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "kbench-shared-cache"
        for part in SHARED_CACHE_PARTS:
            (shared / part).mkdir(parents=True, exist_ok=True)
            (home / part).symlink_to(shared / part, target_is_directory=True)
    os.environ["KBENCH_CACHE_DIR"] = str(home)

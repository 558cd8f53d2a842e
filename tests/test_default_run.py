"""The README's main job: ``kbench run`` with no argument runs the bundled default scenario cleanly.

A module of its own (45 s of real tiny runs), so the two workers of the suite can take it apart from the
bundled-scenario checks.
"""

from __future__ import annotations

import pytest

from bench.cli.commands_run import bundled_scenario
from bench.results import read_results
from bench.scenario import load_scenario_file
from tests.conftest import run_kbench
from tests.test_bundled_scenarios import _not_clean


@pytest.mark.slow
def test_default_scenario_runs_clean_with_no_argument(tmp_path):
    proc = run_kbench("run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (results,) = (tmp_path / "results").glob("kbench-*.jsonl")
    records = read_results([results])
    assert [r.run_key for r in records] == [s.run_key for s in load_scenario_file(bundled_scenario())]
    assert _not_clean(records) == {}
    assert (tmp_path / "reports" / f"{results.stem}.html").is_file()

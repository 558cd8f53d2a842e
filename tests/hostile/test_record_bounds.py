"""Results records whose numbers are finite but absurd (``1e308`` seconds, a zero call time, a 400-digit
count, a batch of 0) in ``kbench cost`` and ``kbench report``: the record is skipped with one warning naming
the file, the line and the field, like a NaN one, and never reaches a sum or product that overflows.
"""

from __future__ import annotations

import json

import pytest

from bench.results import dump_record
from bench.results.checks import MAX_MEASURED, MIN_CALL_S
from tests.hostile.conftest import ok_record


def _all_times(value: float):
    def mutate(d):
        timing, summary = d["timing"], d["summary"]
        timing.update(load_s=value, first_image_s=value, call_s=[value] * 3, per_image_s=[value] * 3)
        for key in list(summary):
            if key.endswith("_s_per_image") and isinstance(summary[key], float) and not key.startswith("unacc"):
                summary[key] = value

    return mutate


CASES = [
    pytest.param(_all_times(1e308), "timing.load_s is 1e+308; a measured number is at most 1e+09", id="all-1e308"),
    pytest.param(
        lambda d: d["summary"].update(median_s_per_image=1e308),
        "summary.median_s_per_image is 1e+308; a measured number is at most 1e+09",
        id="median-1e308",
    ),
    pytest.param(
        lambda d: d["timing"].update(load_s=1e308), "timing.load_s is 1e+308; a measured number", id="load-1e308"
    ),
    pytest.param(_all_times(0.0), "timing.call_s is 0; a call or image takes at least 1e-06 s", id="zero-times"),
    pytest.param(_all_times(5e-324), "timing.call_s is 4.94066e-324; a call or image", id="denormal-times"),
    pytest.param(lambda d: d["summary"].update(n=10**400), "summary.n is 1.000e+400; a measured number", id="n-huge"),
    pytest.param(
        lambda d: d["spec"].update(batch_size=0),
        "spec.batch_size is 0; a workload size is from 1 to 1e+09",
        id="batch-0",
    ),
    pytest.param(
        lambda d: d["spec"].update(images_per_prompt=10**400), "spec.images_per_prompt is 1.000e+400", id="ipp-huge"
    ),
    pytest.param(lambda d: d["spec"].update(width=10**400), "spec.width is 1.000e+400", id="width-huge"),
    pytest.param(
        lambda d: d.update(
            timeline={"interval_s": 0.1, "t_s": [0.0, 1e308], "series": {"rss_mb": [1.0, 2.0]}, "spans": []}
        ),
        "timeline.t_s is 1e+308",
        id="timeline-1e308",
    ),
]


def _record_line(mutate) -> str:
    data = json.loads(dump_record(ok_record("kandinsky-3")))
    mutate(data)
    return json.dumps(data)


def _skipped(outcome, path, needle: str) -> None:
    """The record was skipped with one warning naming file, line and field; no traceback."""
    assert "Traceback" not in outcome.err + outcome.out
    warned = [line for line in outcome.err_lines if line.startswith("kbench: warning: ") and "skipping run" in line]
    key = ok_record("kandinsky-3").run_key
    assert len(warned) == 1, outcome.err[-2000:]
    assert warned[0].startswith(f"kbench: warning: {path}:2: skipping run {key}: {needle}"), warned[0]


@pytest.mark.parametrize(("mutate", "needle"), CASES)
@pytest.mark.parametrize(
    "options",
    [("--gpu", "rtx4090"), ("--gpu", "rtx4090", "--session-hours", "4"), ("--gpu", "rtx4090", "--json")],
    ids=["cost", "session-hours", "json"],
)
def test_cost_skips_an_absurd_record_and_costs_the_rest(kb, work, mutate, needle, options):
    path = work / "mixed.jsonl"
    path.write_text(dump_record(ok_record()) + "\n" + _record_line(mutate) + "\n", encoding="utf-8")
    outcome = kb("cost", path, *options)
    assert outcome.code == 0, outcome.err[-2000:]
    _skipped(outcome, path, needle)
    assert "kandinsky-2.2" in outcome.out and "kandinsky-3|" not in outcome.out
    assert outcome.changed == [] and outcome.created == []


@pytest.mark.parametrize(("mutate", "needle"), CASES)
@pytest.mark.parametrize("command", ["cost", "report"])
def test_a_file_of_absurd_records_is_exit_2_with_the_field_named(kb, work, mutate, needle, command):
    path = work / "bad.jsonl"
    path.write_text(_record_line(mutate) + "\n", encoding="utf-8")
    args = ("report", path, "-o", "out/r") if command == "report" else ("cost", path, "--gpu", "rtx4090")
    outcome = kb(*args)
    assert outcome.code == 2, outcome.err[-2000:]
    assert "Traceback" not in outcome.err + outcome.out
    warned, error = outcome.err_lines  # the skipped record, then why nothing is left: two lines, bounded
    assert warned.startswith(f"kbench: warning: {path}:1: skipping run ") and needle in warned, warned
    assert error.startswith("kbench: error: ") and str(path) in error, error
    assert len(outcome.err) + len(outcome.out) < 4096
    assert outcome.created == [] and outcome.changed == []


def test_the_bounds_leave_real_runs_alone(kb, work):
    """A run at the edges (a microsecond per call, a load of a decade, a petabyte) is still costed."""
    slow = _record_line(_all_times(MAX_MEASURED))
    fast = json.loads(dump_record(ok_record()))
    _all_times(MIN_CALL_S)(fast)
    path = work / "edges.jsonl"
    path.write_text(slow + "\n" + json.dumps(fast) + "\n", encoding="utf-8")
    for options in (("--gpu", "rtx4090"), ("--gpu", "rtx4090", "--session-hours", "4")):
        outcome = kb("cost", path, *options)
        assert outcome.code == 0, outcome.err[-2000:]
        assert "skipping" not in outcome.err and outcome.out.count("rtx4090 ") == 2  # both runs, one row each

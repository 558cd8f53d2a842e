"""Outputs are checked before any work, and no output is ever one of the command's inputs.

Every case is refused in well under a second with one line naming the option and the path, and leaves the
work folder exactly as it was (nothing written, nothing created, not even an empty results file).
"""

from __future__ import annotations

import os

import pytest

from bench.cli.outputs import Output, check_outputs, same_file
from bench.errors import OutputError
from tests.hostile.conftest import SCENARIO, fifo, mounted_tmpfs, refused, results_file, write

# --- kbench run ------------------------------------------------------------------------------------------


def test_run_out_is_a_folder(kb, scenario, work):
    (work / "out").mkdir()
    refused(kb("run", scenario, "-o", "out"), "out: --out: is a folder")


def test_run_out_is_the_scenario(kb, scenario):
    refused(kb("run", scenario, "-o", scenario), "--out: is also an input", "s.yaml")


def test_run_out_is_a_symlink_to_the_scenario(kb, scenario, work):
    (work / "link.jsonl").symlink_to(scenario)
    refused(kb("run", scenario, "-o", "link.jsonl"), "link.jsonl: --out: is also an input")


def test_run_out_is_a_hard_link_to_the_scenario(kb, scenario, work):
    os.link(scenario, work / "hard.jsonl")  # another name, the same inode
    refused(kb("run", scenario, "-o", "hard.jsonl"), "hard.jsonl: --out: is also an input")


def test_run_out_is_the_prompt_set(kb, work):
    prompts = write(work / "prompts.txt", "a red fox\n")
    path = write(work / "p.yaml", SCENARIO + "    prompt_set: prompts.txt\n")
    refused(kb("run", path, "-o", prompts), "--out: is also an input", "prompts.txt")


def test_run_out_under_a_file(kb, scenario):
    refused(kb("run", scenario, "-o", "s.yaml/r.jsonl"), "s.yaml is a file, not a folder")


def test_run_out_is_a_fifo(kb, scenario, work):
    fifo(work / "pipe.jsonl")
    refused(kb("run", scenario, "-o", "pipe.jsonl"), "pipe.jsonl: --out: is a FIFO")


def test_run_out_is_not_a_results_file(kb, scenario, work):
    write(work / "notes.txt", "my notes, not results\n")
    refused(kb("run", scenario, "-o", "notes.txt"), "notes.txt: --out: exists and is not a kbench results file")


def test_run_out_in_a_read_only_folder(kb, scenario, read_only_dir):
    refused(kb("run", scenario, "-o", read_only_dir / "r.jsonl"), "--out: cannot create files in", str(read_only_dir))


def test_run_out_on_a_full_file_system(kb, scenario, work):
    with mounted_tmpfs(work / "small", "1m") as small:
        refused(kb("run", scenario, "-o", small / "r.jsonl"), "--out: only", "MiB free")


def test_run_save_images_is_a_file(kb, scenario, work):
    write(work / "images", "a file, not a folder")
    refused(kb("run", scenario, "-o", "r.jsonl", "--save-images", "images"), "--save-images", "not a folder")


def test_run_report_dir_is_a_file(kb, scenario, work):
    write(work / "reports", "a file, not a folder")
    refused(kb("run", scenario, "-o", "r.jsonl", "--report-dir", "reports"), "--report-dir", "not a folder")


def test_run_report_would_overwrite_the_results(kb, scenario):
    # the report of reports/x.csv is reports/x.{html,md,csv}: it would replace the results file it reads
    refused(kb("run", scenario, "-o", "reports/x.csv"), "is also the --out output")


def test_run_resume_into_the_scenario(kb, scenario):
    refused(kb("run", scenario, "-o", scenario, "--resume"), "--out: is also an input")


# --- kbench report ---------------------------------------------------------------------------------------


def test_report_output_would_overwrite_its_input(kb, work):
    data = results_file(work / "data.csv")  # a results file named like a report part
    refused(kb("report", data, "-o", "data"), "data.csv: -o: is also an input")


def test_report_output_part_is_a_folder(kb, results, work):
    (work / "out.html").mkdir()
    refused(kb("report", results, "-o", "out"), "out.html: -o: is a folder")


def test_report_output_under_a_file(kb, results):
    refused(kb("report", results, "-o", "r.jsonl/report"), "r.jsonl is a file, not a folder")


def test_report_output_in_a_read_only_folder(kb, results, read_only_dir):
    refused(kb("report", results, "-o", read_only_dir / "x"), "-o: cannot create files in")


# --- kbench compare --------------------------------------------------------------------------------------


@pytest.fixture
def pair(work):
    return results_file(work / "base.jsonl"), results_file(work / "cur.jsonl")


def test_compare_json_over_the_baseline(kb, pair):
    base, cur = pair
    refused(kb("compare", base, cur, "--json-out", base), "base.jsonl: --json-out: is also an input")


def test_compare_markdown_over_the_current(kb, pair):
    base, cur = pair
    refused(kb("compare", base, cur, "--markdown", cur), "cur.jsonl: --markdown: is also an input")


def test_compare_json_and_markdown_to_one_file(kb, pair):
    base, cur = pair
    refused(kb("compare", base, cur, "--markdown", "x.out", "--json-out", "x.out"), "is also the --markdown output")


def test_compare_json_is_a_folder(kb, pair, work):
    (work / "j").mkdir()
    refused(kb("compare", *pair, "--json-out", "j"), "j: --json-out: is a folder")


def test_compare_json_over_a_file_inside_an_input_folder(kb, work):
    folder = work / "basedir"
    results_file(folder / "a.jsonl")
    cur = results_file(work / "cur.jsonl")
    refused(kb("compare", folder, cur, "--json-out", folder / "a.jsonl"), "a.jsonl: --json-out: is also an input")


def test_compare_json_over_the_thresholds_file(kb, pair, work):
    rules = write(work / "t.yaml", "defaults: {median: 5%}\n")
    refused(kb("compare", *pair, "--thresholds", rules, "--json-out", rules), "t.yaml: --json-out: is also an input")


# --- kbench baseline save --------------------------------------------------------------------------------


def test_baseline_save_onto_its_source(kb, results):
    refused(kb("baseline", "save", results, "--to", results), "r.jsonl: --to: is also an input")


def test_baseline_save_to_a_folder(kb, results, work):
    (work / "b").mkdir()
    refused(kb("baseline", "save", results, "--to", "b"), "b: --to: is a folder")


def test_baseline_save_in_a_read_only_folder(kb, results, read_only_dir):
    refused(kb("baseline", "save", results, "--to", read_only_dir / "b.jsonl"), "--to: cannot create files in")


# --- the checks themselves ---------------------------------------------------------------------------------


def test_a_good_output_passes_and_creates_nothing(tmp_path):
    check_outputs([Output("--out", tmp_path / "deep" / "er" / "r.jsonl"), Output("--dir", tmp_path / "d", "dir")])
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder made, the probe file removed


def test_same_file_sees_links_but_not_namesakes(tmp_path):
    a = write(tmp_path / "a.txt", "x")
    b = write(tmp_path / "sub" / "a.txt", "x")
    (tmp_path / "l").symlink_to(a)
    assert same_file(tmp_path / "l", a) and same_file(tmp_path / "sub" / ".." / "a.txt", a)
    assert not same_file(a, b)
    with pytest.raises(OutputError, match="is also an input"):
        check_outputs([Output("-o", tmp_path / "l")], [a])


def test_the_job_summary_is_checked_like_every_output(kb, work, monkeypatch):
    """``$GITHUB_STEP_SUMMARY`` pointed at an input would append markdown to a results file (every later read
    then rejects it); pointed at a FIFO the append would block. Both are refused before any work."""
    base, cur = results_file(work / "base.jsonl"), results_file(work / "cur.jsonl")
    before = base.read_bytes()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(base))
    refused(kb("compare", base, cur, "--step-summary"), "GITHUB_STEP_SUMMARY", "is also an input")
    assert base.read_bytes() == before
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(fifo(work / "pipe")))
    refused(kb("compare", base, cur, "--step-summary"), "GITHUB_STEP_SUMMARY", "FIFO")

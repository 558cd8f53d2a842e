from __future__ import annotations

import json

import pytest

from bench.errors import ResultsFormatError
from bench.results import (
    SCHEMA_VERSION,
    RunRecord,
    Timing,
    append_record,
    completed_keys,
    dump_record,
    read_results,
)
from bench.results.store import json_lines
from tests.factories import tiny_spec


def _record(key_model: str = "kandinsky-2.2", status: str = "ok") -> RunRecord:
    spec = tiny_spec(model=key_model)
    return RunRecord(
        run_key=spec.run_key,
        spec=spec,
        status=status,
        timing=Timing(load_s=1.0, first_image_s=1.5, call_s=[0.5], per_image_s=[0.5]) if status == "ok" else None,
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:01+00:00",
        kbench_version="test",
    )


def test_append_and_read_round_trip(tmp_path):
    path = tmp_path / "r.jsonl"
    append_record(path, _record())
    append_record(path, _record("kandinsky-3", "oom"))
    records = read_results([path])
    assert [r.status for r in records] == ["ok", "oom"]
    assert records[1].spec.model == "kandinsky-3"
    assert completed_keys(path) == {r.run_key for r in records}
    assert path.read_text().count("\n") == 2


def test_torn_last_line_is_ignored_with_warning_and_repaired_on_append(tmp_path):
    path = tmp_path / "r.jsonl"
    append_record(path, _record())
    full = dump_record(_record("kandinsky-3"))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(full[: len(full) // 2])  # a writer killed mid-line
    with pytest.warns(UserWarning, match=":2: ignoring a torn line"):
        assert len(read_results([path])) == 1
    append_record(path, _record("kandinsky-2.1"))  # the next append starts on a fresh line
    with pytest.warns(UserWarning, match=":2: ignoring a torn line"):
        records = read_results([path])
    assert [r.spec.model for r in records] == ["kandinsky-2.2", "kandinsky-2.1"]


def test_newer_schema_is_a_clear_error(tmp_path):
    path = tmp_path / "r.jsonl"
    data = json.loads(dump_record(_record()))
    data["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data) + "\n")
    with pytest.raises(ResultsFormatError, match=r"r.jsonl:1: schema_version: .* newer .* upgrade kbench"):
        read_results([path])


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("hello world\n{}\n", ":1: not a JSON results line"),
        ("[1, 2]\n", ":1: a results line must be a JSON object"),
        ('{"schema_version": 1, "status": "ok"}\n', ":1: run_key"),
        ('{"status": "ok"}\n', ":1: schema_version: missing"),
    ],
)
def test_corrupt_files(tmp_path, content, needle):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ResultsFormatError, match=needle):
        read_results([path])


def test_missing_file(tmp_path):
    with pytest.raises(ResultsFormatError, match="cannot read results file"):
        read_results([tmp_path / "none.jsonl"])


SHORT_WRITE = """
import resource, signal, sys
from pathlib import Path

from bench.errors import ResultsWriteError
from bench.results import append_record
from tests.test_results import _record

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit comes back short, then fails
path = Path(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 100, resource.RLIM_INFINITY))
try:
    append_record(path, _record("kandinsky-3"))
except ResultsWriteError as exc:
    print(exc)
"""


def test_a_short_write_is_truncated_back_and_reported(tmp_path):
    """A record that does not fit (a full disk, here a file-size limit) leaves the file exactly as it was."""
    import subprocess
    import sys

    from tests.conftest import REPO

    path = tmp_path / "r.jsonl"
    append_record(path, _record())
    before = path.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", SHORT_WRITE, str(path)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    size = len(dump_record(_record("kandinsky-3"))) + 1
    assert (
        proc.stdout.strip() == f"{path}: cannot write a record (short write, 100 of {size:,} bytes; is the disk full?)"
    )
    assert path.read_bytes() == before  # the 100 bytes that did fit were cut off again
    assert [r.spec.model for r in read_results([path])] == ["kandinsky-2.2"]


def test_appending_to_a_removed_folder_is_one_error(tmp_path):
    from bench.errors import ResultsWriteError

    folder = tmp_path / "gone"
    folder.mkdir()
    (tmp_path / "gone").rmdir()
    (tmp_path / "gone").write_text("now a file")  # the results folder was replaced by a file mid-sweep
    with pytest.raises(ResultsWriteError, match=r"gone/r.jsonl: cannot write a record \("):
        append_record(folder / "r.jsonl", _record())


def test_interrupted_runs_are_not_completed_and_give_way_to_their_retry(tmp_path):
    path = tmp_path / "r.jsonl"
    append_record(path, _record("kandinsky-3", "interrupted"))
    assert completed_keys(path) == set()  # --resume runs it again
    append_record(path, _record("kandinsky-3"))
    assert [r.status for r in read_results([path])] == ["ok"]


@pytest.mark.parametrize("head", [b'{"schema_version":3,"run_key":"a"', b'{"record_type":"serve","serve_key":"a"'])
def test_one_reader_skips_a_torn_record_of_either_kind_that_a_later_append_closed(tmp_path, head):
    """A killed writer's torn line, closed by the next append, is skipped in a run file and a serving file alike."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(head + b'\n{"record_type":"serve","n":2}\n')
    with pytest.warns(UserWarning, match=r"r\.jsonl:1: ignoring a torn line"):
        rows = list(json_lines(path, "serving results", 1024))
    assert [(n, d) for n, _, d in rows] == [(2, {"record_type": "serve", "n": 2})]
    path.write_bytes(b'{"other": 1\n{"record_type":"serve","n":2}\n')  # not how a kbench record starts
    with pytest.raises(ResultsFormatError, match=r"r\.jsonl:1: not a JSON serving results line"):
        list(json_lines(path, "serving results", 1024))

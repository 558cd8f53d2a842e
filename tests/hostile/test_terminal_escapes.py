"""Escape sequences read from files reach the terminal as text: tables, notes and error lines print them escaped.

A results file can carry a GPU name, a commit or a reason with ``ESC [2J`` (clear the screen) or ``ESC ] 0;..BEL``
(set the window title); printed raw, the terminal would obey them and could hide the lines before them.
"""

from __future__ import annotations

from bench.cli._common import one_line
from bench.cli.tables import format_table, wrap_notes
from bench.results import RunRecord, Timing, append_record
from bench.spec import RunSpec
from tests.conftest import run_kbench

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;owned\x07"
CSI_C1 = "\x9b31m"  # the one-character CSI some terminals take
HOSTILE = f"A100{CLEAR}{TITLE}{CSI_C1}"

SPEC = RunSpec(
    scenario="escapes", model="kandinsky-2-2", task="text2img", weights="tiny", width=64, height=64, steps=2,
    guidance_scale=4.0, dtype="fp32", device="cpu", repeats=3, max_repeats=3,
)  # fmt: skip


def _raw(text: str) -> bool:
    return any(seq in text for seq in ("\x1b", "\x07", "\x9b"))


def _record(i: int, gpu: str, commit: str, seconds: float) -> RunRecord:
    calls = [seconds * (1 + 0.01 * k) for k in range(5)]
    return RunRecord(
        run_key=SPEC.run_key,
        spec=SPEC,
        status="ok",
        timing=Timing(load_s=1.0, first_image_s=2.0, call_s=calls, per_image_s=calls),
        env={"gpu_name": gpu, "git_commit": commit},
        started_at=f"2026-01-01T{i:02d}:00:00+00:00",
        finished_at=f"2026-01-01T{i:02d}:05:00+00:00",
        kbench_version="0.1.0",
    )


def test_terminal_tables_notes_and_error_lines_escape_control_characters():
    table = format_table(["gpu", "$/h"], [[HOSTILE, "1.0"]])
    assert not _raw(table) and "A100\\x1b[2J" in table
    assert not _raw("\n".join(wrap_notes([f"price of {HOSTILE}"])))
    line = one_line(f"bad field {HOSTILE}\nsecond line")
    assert not _raw(line) and "\n" not in line


def test_compare_prints_a_hostile_gpu_name_escaped(tmp_path):
    base, cur = tmp_path / "base.jsonl", tmp_path / "cur.jsonl"
    append_record(base, _record(1, "A100", "a" * 40, 1.0))
    append_record(cur, _record(2, HOSTILE, "b" * 40, 1.0))
    proc = run_kbench("compare", str(base), str(cur), "--allow-env-mismatch", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert not _raw(proc.stdout + proc.stderr)
    assert "\\x1b[2J" in proc.stdout


def test_history_prints_a_hostile_commit_escaped(tmp_path):
    path = tmp_path / "h.jsonl"
    for i in range(6):
        append_record(path, _record(i, "A100", f"{CLEAR}{i}" + "c" * 30, 1.0))
    proc = run_kbench("history", str(path), env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert not _raw(proc.stdout + proc.stderr)
    assert "\\x1b[2J" in proc.stdout

"""``kbench sky collect``: merge the results files the rented machines returned into one new results file.

Every record is read through the results reader (schema, version and numbers checked; a bad line names its
file and line), records already seen (same run key and start time: a file copied twice, or a bucket synced
over a local copy) are kept once, and the merged file is written whole to a temporary file, fsynced, then
renamed: an existing file is never written over and no input is touched. ``kbench recommend --results`` and
``kbench report`` read the merged file as they read any other.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import InputFileError, OutputError, located
from bench.results import RunRecord, dump_record, iter_results

MAX_FILES = 1000


@dataclass
class FileSummary:
    """What one returned file held."""

    path: Path
    records: int = 0
    duplicates: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    gpus: set[str] = field(default_factory=set)  # NVML names of the cards the runs really used


@dataclass
class Collected:
    out: Path
    files: list[FileSummary]
    records: int


def results_files(directory: Path, out: Path) -> list[Path]:
    """The ``*.jsonl`` files under ``directory`` (recursively, in name order), without ``out``.

    Raises:
        InputFileError: ``directory`` is not a folder, or holds no results file.
    """
    if not directory.is_dir():
        raise InputFileError(located("not a folder of returned results files", file=directory))
    files = sorted(p for p in directory.rglob("*.jsonl") if p.is_file() and p.resolve() != out.resolve())
    if not files:
        raise InputFileError(located("no *.jsonl results file under it", file=directory))
    if len(files) > MAX_FILES:
        raise InputFileError(located(f"{len(files):,} results files; at most {MAX_FILES:,} at a time", file=directory))
    return files


def collect(directory: Path, out: Path) -> Collected:
    """Merge every results file under ``directory`` into the new file ``out``.

    Raises:
        OutputError: ``out`` exists already.
        InputFileError: no results file under ``directory``.
        ResultsFormatError: a file holds a line that is not a valid record (file and line named).
    """
    if out.exists():
        raise OutputError(located("exists; sky collect writes a new file (choose another --out)", file=out))
    seen: set[tuple[str, str]] = set()
    merged: list[RunRecord] = []
    summaries = []
    for path in results_files(directory, out):
        summary = FileSummary(path)
        for record in iter_results(path):
            key = (record.run_key, record.started_at)
            if key in seen:
                summary.duplicates += 1
                continue
            seen.add(key)
            merged.append(record)
            summary.records += 1
            summary.statuses[record.status] += 1
            if name := record.env.get("gpu_name"):
                summary.gpus.add(str(name))
        summaries.append(summary)
    _write_new(out, merged)
    return Collected(out=out, files=summaries, records=len(merged))


def _write_new(out: Path, records: list[RunRecord]) -> None:
    """Write ``records`` as a new JSONL file at ``out``: whole, or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for record in records:
                f.write(dump_record(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if out.exists():  # appeared meanwhile: never write over it
            raise OutputError(located("appeared while collecting; nothing was written", file=out))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["Collected", "FileSummary", "collect", "results_files"]

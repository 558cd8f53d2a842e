"""The append-only JSONL results store: one line per run, files from many machines merge by concatenation.

A line is written with a single ``os.write`` on an ``O_APPEND`` descriptor and fsynced. A write that fails or
comes up short (a full disk) is truncated back, so the file holds whole records only; a writer killed
mid-write leaves a torn last line that :func:`read_results` detects and skips with a warning.

Readers also leave out, with a warning naming file and line, records whose numbers cannot be used
(:func:`~bench.results.checks.record_problem`), and count a record repeated byte for byte (a file given
twice, or concatenated with itself) once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from bench.errors import ResultsFormatError, ResultsWriteError, located
from bench.files import read_bytes_capped
from bench.results.checks import record_problem
from bench.results.schema import RETRIED_STATUSES, RunRecord, _migrate, dump_record

MAX_RESULTS_BYTES = 1024**3  # 1 GiB: about 20,000 runs with their timelines
MAX_WARNINGS_PER_FILE = 5  # skipped records named one by one; the rest are counted
MEASUREMENT_PARTS = ("timing", "summary", "memory", "energy")


def append_record(path: str | Path, record: RunRecord) -> None:
    """Append one record atomically: one ``write`` on an O_APPEND descriptor, then fsync.

    Raises:
        ResultsWriteError: the record could not be written whole (disk full, folder gone, read-only); the
            file is left as it was, every earlier record intact.
    """
    append_line(path, dump_record(record))


def append_line(path: str | Path, line: str) -> None:
    """Append one JSON line (no newline in it) as :func:`append_record` does: whole, or not at all.

    Other record kinds with their own files (serving load points) share this one write path.
    """
    path = Path(path)
    data = (line + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ResultsWriteError(located(f"cannot write a record ({exc.strerror or exc})", file=path)) from None
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a killed writer's torn line: end it first
            data = b"\n" + data
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write, {written:,} of {len(data):,} bytes; is the disk full?")
            os.fsync(fd)
        except OSError as exc:
            _truncate(fd, size)
            reason = exc.strerror or str(exc)
            raise ResultsWriteError(located(f"cannot write a record ({reason})", file=path)) from None
    finally:
        os.close(fd)


def _truncate(fd: int, size: int) -> None:
    """Cut the file back to ``size`` bytes: no partial record stays behind."""
    with contextlib.suppress(OSError):  # refused even that: the reader still skips a torn last line
        os.ftruncate(fd, size)


# How every line kbench appends starts (a run record, a serving load point or SLO search): a line that does and
# is not valid JSON is a record a killed writer left torn, which the next append closed with a newline.
_RECORD_STARTS = (b'{"schema_version"', b'{"record_type"')


def json_lines(path: Path, kind: str, max_bytes: int) -> Iterator[tuple[int, bytes, dict[str, object]]]:
    """``(line number, line, object)`` of each line of an append-only JSONL file of kbench records.

    The one reader of both results files (isolated runs, serving): a torn line (the unterminated last line, or a
    record's prefix that a later append closed) is skipped with a warning; anything else that is not a JSON
    object raises :class:`ResultsFormatError` naming file and line.
    """
    raw = read_bytes_capped(path, f"{kind} file", ResultsFormatError, max_bytes)
    lines = raw.split(b"\n")
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if lineno == len(lines) or line.lstrip().startswith(_RECORD_STARTS):
                warnings.warn(f"{path}:{lineno}: ignoring a torn line (a writer was interrupted)", stacklevel=4)
                continue
            raise ResultsFormatError(f"{path}:{lineno}: not a JSON {kind} line") from None
        except RecursionError:
            raise ResultsFormatError(f"{path}:{lineno}: a {kind} line nested too deeply") from None
        if not isinstance(data, dict):
            raise ResultsFormatError(f"{path}:{lineno}: a {kind} line must be a JSON object")
        yield lineno, line, data


def _records(path: Path) -> Iterator[tuple[int, bytes, RunRecord]]:
    """``(line number, line digest, record)`` of each usable record of one file."""
    skipped = 0
    for lineno, line, data in json_lines(path, "results", MAX_RESULTS_BYTES):
        data = _migrate(data, path, lineno)
        try:
            record = RunRecord.model_validate(data)
        except ValidationError as err:
            e = err.errors()[0]
            field = ".".join(str(p) for p in e["loc"])
            if e["loc"] and e["loc"][0] in MEASUREMENT_PARTS:  # a missing or mistyped timing: skip the run
                skipped += 1
                _warn_skip(path, lineno, data.get("run_key"), f"{field[:200]}: {e['msg']}", skipped)
                continue
            raise ResultsFormatError(f"{path}:{lineno}: {field[:200]}: {e['msg']}") from None
        problem = record_problem(record)
        if problem is not None:
            skipped += 1
            _warn_skip(path, lineno, record.run_key, problem, skipped)
            continue
        yield lineno, hashlib.blake2b(line.strip(), digest_size=16).digest(), record
    if skipped > MAX_WARNINGS_PER_FILE:
        warnings.warn(f"{path}: {skipped:,} records skipped in all (bad or missing timings)", stacklevel=3)


def _warn_skip(path: Path, lineno: int, run_key: object, problem: str, count: int) -> None:
    if count <= MAX_WARNINGS_PER_FILE:
        key = str(run_key)[:200] if isinstance(run_key, str) else "?"
        warnings.warn(f"{path}:{lineno}: skipping run {key}: {problem}", stacklevel=4)


def iter_results(path: str | Path) -> Iterator[RunRecord]:
    """Yield the usable records of one file.

    A torn final line, and a record with unusable timings, is skipped with a warning; any other bad line is an
    error (:class:`ResultsFormatError`, naming file and line).
    """
    for _, _, record in _records(Path(path)):
        yield record


def read_results(paths: Iterable[str | Path]) -> list[RunRecord]:
    """Read and concatenate result files; raise :class:`ResultsFormatError` naming file and line on corruption.

    A record repeated byte for byte (within a file or across files) is counted once, with one warning; an
    ``interrupted`` record of a run that was run again (``--resume``) gives way to the later one.
    """
    records: list[RunRecord] = []
    first_seen: dict[bytes, str] = {}
    repeats: list[str] = []
    files: dict[str, str | Path] = {}
    for p in paths:
        real = os.path.realpath(p)
        if real in files:
            warnings.warn(f"{p}: the same file as {files[real]}, given twice; read once", stacklevel=2)
            continue
        files[real] = p
        for lineno, digest, record in _records(Path(p)):
            where = f"{p}:{lineno}"
            if digest in first_seen:
                repeats.append(f"{where} repeats {first_seen[digest]} (run {record.run_key})")
                continue
            first_seen[digest] = where
            records.append(record)
    if repeats:
        more = f" and {len(repeats) - 1:,} more" if len(repeats) > 1 else ""
        warnings.warn(f"duplicate records counted once: {repeats[0]}{more}", stacklevel=2)
    retried = {r.run_key for r in records if r.status not in RETRIED_STATUSES}
    return [r for r in records if r.status not in RETRIED_STATUSES or r.run_key not in retried]


def completed_keys(path: str | Path) -> set[str]:
    """Run keys already recorded in ``path`` (any status but ``interrupted``), for ``--resume``."""
    path = Path(path)
    if not path.exists():
        return set()
    return {r.run_key for r in iter_results(path) if r.status not in RETRIED_STATUSES}


__all__ = [
    "MAX_RESULTS_BYTES",
    "append_line",
    "append_record",
    "completed_keys",
    "iter_results",
    "json_lines",
    "read_results",
]

"""A baseline kept in the repository: a results JSONL file plus a small metadata file beside it.

``benchmarks/baseline.jsonl`` holds ordinary result records (so ``kbench compare`` and ``kbench report`` read
it like any results file); ``benchmarks/baseline.meta.json`` says when and from what it was made. Both are
written atomically (temporary file, fsync, rename), so an interrupted save leaves the old baseline intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import __version__
from bench.compare.pairing import ENV_FIELDS, env_value
from bench.errors import OutputError, ResultsFormatError, located
from bench.files import read_text_capped
from bench.results import RunRecord, dump_record, read_results
from bench.results.peak import peak_memory
from bench.stats import percentile

DEFAULT_BASELINE = Path("benchmarks/baseline.jsonl")
META_SUFFIX = ".meta.json"
META_SCHEMA = "kbench-baseline/1"


@dataclass(frozen=True)
class BaselineMeta:
    """What a baseline was made from: written next to it, shown by ``kbench baseline show``."""

    created_at: str
    kbench_version: str
    sources: tuple[str, ...]
    records: int
    run_keys: int
    statuses: dict[str, int]
    environments: tuple[dict[str, str], ...]
    schema: str = META_SCHEMA


@dataclass(frozen=True)
class BaselineRow:
    """One run key of a baseline, summarised for display."""

    run_key: str
    status: str
    n_samples: int
    median_s_per_image: float | None
    vram_peak_mb: float | None
    energy_j_per_image: float | None


def meta_path(baseline: str | Path) -> Path:
    """``benchmarks/baseline.jsonl`` -> ``benchmarks/baseline.meta.json``."""
    p = Path(baseline)
    return p.with_name(p.stem + META_SUFFIX)


def _environments(records: Sequence[RunRecord]) -> tuple[dict[str, str], ...]:
    """Distinct environments (known fields only), in first-seen order."""
    seen: list[dict[str, str]] = []
    for r in records:
        env = {label: v for label, paths in ENV_FIELDS.items() if (v := env_value(r.env, paths)) is not None}
        env["weights"] = r.spec.weights
        if env not in seen:
            seen.append(env)
    return tuple(seen)


def build_meta(
    records: Sequence[RunRecord], sources: Sequence[str | Path], *, now: datetime | None = None
) -> BaselineMeta:
    """Metadata for ``records`` taken from ``sources``."""
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return BaselineMeta(
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        kbench_version=__version__,
        sources=tuple(str(s) for s in sources),
        records=len(records),
        run_keys=len({r.run_key for r in records}),
        statuses=dict(sorted(statuses.items())),
        environments=_environments(records),
    )


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise OutputError(located(f"cannot write the baseline ({exc.strerror or exc})", file=path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(located(f"cannot write the baseline ({exc.strerror or exc})", file=path)) from None
        raise


def save_baseline(
    results: Sequence[str | Path],
    to: str | Path = DEFAULT_BASELINE,
    *,
    merge: bool = False,
    now: datetime | None = None,
) -> BaselineMeta:
    """Store the records of ``results`` as the baseline at ``to``.

    Args:
        results: Results files to take the runs from (read and validated first).
        to: Baseline path; its metadata goes to :func:`meta_path` of it.
        merge: Keep the runs of an existing baseline whose run keys the new results do not contain;
            otherwise the baseline is replaced.
        now: Creation time (for reproducible tests).

    Returns:
        The metadata written.

    Raises:
        ResultsFormatError: a results file is unreadable or corrupt, or there are no runs to store.
    """
    if not results:
        raise ResultsFormatError("baseline save: give at least one results file")
    to = Path(to)
    new = read_results(results)
    if not new:
        raise ResultsFormatError(located("no runs to store in the baseline", file=", ".join(map(str, results))))
    records = new
    sources: list[str | Path] = list(results)
    if merge and to.exists():
        old_meta = _read_meta(to)
        new_keys = {r.run_key for r in new}
        records = [r for r in read_results([to]) if r.run_key not in new_keys] + new
        sources = [*(old_meta.sources if old_meta else (str(to),)), *results]
    meta = build_meta(records, sources, now=now)
    _write_atomic(to, "".join(dump_record(r) + "\n" for r in records))
    _write_atomic(meta_path(to), json.dumps(asdict(meta), indent=2) + "\n")
    return meta


def _read_meta(path: Path) -> BaselineMeta | None:
    mpath = meta_path(path)
    if not mpath.exists():
        return None
    try:
        data: Any = json.loads(read_text_capped(mpath, "baseline metadata", ResultsFormatError))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ResultsFormatError(located(f"cannot read baseline metadata ({exc})", file=mpath)) from None
    if not isinstance(data, dict) or data.get("schema") != META_SCHEMA:
        raise ResultsFormatError(located(f"not a baseline metadata file (schema must be {META_SCHEMA})", file=mpath))
    try:
        return BaselineMeta(
            created_at=str(data["created_at"]),
            kbench_version=str(data["kbench_version"]),
            sources=tuple(data["sources"]),
            records=int(data["records"]),
            run_keys=int(data["run_keys"]),
            statuses=dict(data["statuses"]),
            environments=tuple(data["environments"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsFormatError(located(f"missing or bad field {exc}", file=mpath)) from None


def _row(records: Sequence[RunRecord]) -> BaselineRow:
    ok = [r for r in records if r.ok]
    samples = [s for r in ok if r.timing for s in r.timing.per_image_s]
    medians = [r.summary.median_s_per_image for r in ok if r.summary]
    vram = [p.mb for p in map(peak_memory, ok) if p is not None and p.kind == "VRAM"]
    energy = [r.energy.energy_j_per_image for r in ok if r.energy.energy_j_per_image is not None]
    return BaselineRow(
        run_key=records[0].run_key,
        status="ok" if ok else records[-1].status,
        n_samples=len(samples),
        median_s_per_image=percentile(samples, 50) if samples else (medians[0] if medians else None),
        vram_peak_mb=max(vram) if vram else None,
        energy_j_per_image=sum(energy) / len(energy) if energy else None,
    )


def show_baseline(path: str | Path = DEFAULT_BASELINE) -> tuple[BaselineMeta | None, list[BaselineRow]]:
    """The metadata (None when the file has none) and one summary row per run key of a baseline.

    Raises:
        ResultsFormatError: the baseline or its metadata is missing or corrupt.
    """
    path = Path(path)
    records = read_results([path])
    grouped: dict[str, list[RunRecord]] = {}
    for r in records:
        grouped.setdefault(r.run_key, []).append(r)
    return _read_meta(path), [_row(rs) for rs in grouped.values()]


__all__ = [
    "DEFAULT_BASELINE",
    "BaselineMeta",
    "BaselineRow",
    "build_meta",
    "meta_path",
    "save_baseline",
    "show_baseline",
]

"""One run in a fresh child process, and what a sweep keeps of it (the loop is
:mod:`bench.measure.executors.driver`).

The parent never imports torch. Each run is a ``python -m bench.measure.child`` subprocess in its own
process group, waited on with a timeout; a hang is killed (status ``timeout``), a child killed by the
kernel or dying without a record is ``oom``/``error``. The first Ctrl-C lets the current run finish
and stops; a second one, SIGTERM or SIGHUP kill it (status ``interrupted``, retried by ``--resume``), see
:mod:`bench.measure.interrupts`. A child whose parent dies stops itself (:mod:`bench.measure.lifeline`).
Everything already measured is on disk either way; one sweep at a time holds the results file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench import __version__
from bench.errors import ResultsWriteError
from bench.files import read_tail
from bench.measure.interrupts import SweepGuard, kill_group
from bench.measure.lifeline import PARENT_ENV, RUN_DIR_ENV
from bench.results import ErrorInfo, RunRecord, append_record, utc_now_iso
from bench.spec import OFFLOAD_OPTIONS, RunSpec

STDERR_TAIL_LINES = 12
STDERR_TAIL_BYTES = 64 * 1024  # read of a failed child's output: its last lines are in here
MAX_TAIL_LINE = 2000  # characters kept of one output line
KILL_GRACE_S = 5.0


@dataclass
class SweepOutcome:
    """What a sweep did: records written this time, runs skipped by --resume, and whether it was interrupted."""

    results_path: Path
    records: list[RunRecord] = field(default_factory=list)
    resumed_skips: int = 0
    interrupted: bool = False
    exit_code: int = 0  # 128 + the signal that stopped the sweep, when interrupted
    write_error: ResultsWriteError | None = None  # the append that failed and stopped the sweep

    def keep(self, record: RunRecord) -> bool:
        """Append ``record`` to the results file (atomic) and to this outcome; False when the write failed,
        which is kept in ``write_error`` and ends the sweep (nothing more could be kept)."""
        try:
            append_record(self.results_path, record)
        except ResultsWriteError as exc:
            self.write_error = exc
            return False
        self.records.append(record)
        return True

    @property
    def failed(self) -> list[RunRecord]:
        """Runs whose last record failed: a run retried after its worker died counts by how the retry ended."""
        last = {r.run_key: r for r in self.records}
        return [r for r in last.values() if r.status in ("oom", "error", "timeout")]


ProgressCallback = Callable[[str, int, int, RunSpec, RunRecord | None], None]


def static_skip_reason(spec: RunSpec) -> str | None:
    """Reasons a run cannot apply that are known without touching any device."""
    if spec.device == "cpu" and spec.memory in OFFLOAD_OPTIONS:
        return f"{spec.memory} moves weights between CPU and an accelerator; it does not apply on device cpu"
    from bench.optimise.static import static_skip_reason as optimise_skip_reason

    return optimise_skip_reason(spec)  # speed settings this model, device or installed library cannot take


def parent_record(
    spec: RunSpec, status: str, reason: str, started_at: str, error: ErrorInfo | None = None
) -> RunRecord:
    """A record written by the parent for a run whose child produced none (skip, timeout, kill)."""
    return RunRecord(
        run_key=spec.run_key,
        spec=spec,
        status=status,
        reason=reason,
        error=error,
        env={"kbench_version": __version__},
        started_at=started_at,
        finished_at=utc_now_iso(),
        kbench_version=__version__,
    )


def _stderr_tail(path: Path, max_bytes: int = STDERR_TAIL_BYTES) -> list[str]:
    """The child's last lines of output, read from the end of its file: a child that wrote gigabytes (a loop
    printing) costs the parent ``max_bytes`` of memory, not the whole file."""
    try:
        data, cut = read_tail(path, max_bytes)
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").rstrip().splitlines()
    if cut:
        lines = lines[1:]  # the first line read may be cut
    return [line[:MAX_TAIL_LINE] for line in lines if line.strip()][-STDERR_TAIL_LINES:]


def _pinning(device: str) -> dict[str, str]:
    """The child's GPU pinning; a device that is not visible is left to the child to report as skipped."""
    from bench.measure.device import child_environment

    try:
        return child_environment(device, os.environ)
    except LookupError:
        return {}


def run_in_child(
    spec: RunSpec,
    *,
    timeout_s: float,
    images_dir: Path | None = None,
    guard: SweepGuard | None = None,
    pinning: Mapping[str, str] | None = None,
    python: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> RunRecord:
    """Execute one run in a fresh interpreter and return its record, whatever happened to the child.

    ``pinning`` replaces the GPU variables derived from the spec's device (an executor that chose the GPU).
    ``python``, ``extra_env`` and ``cwd`` run the child in another interpreter, environment or directory (one
    side of ``kbench ab``); the spec is then written without its default values, so a side running another
    revision of kbench reads only the fields it knows.
    """
    started_at = utc_now_iso()
    with tempfile.TemporaryDirectory(prefix="kbench-run-", ignore_cleanup_errors=True) as tmp:
        tmp_path = Path(tmp)
        spec_file, out_file, err_file = tmp_path / "spec.json", tmp_path / "record.json", tmp_path / "stderr.txt"
        portable = python is not None or cwd is not None
        spec_file.write_text(spec.model_dump_json(exclude_defaults=portable), encoding="utf-8")
        cmd = [
            python or sys.executable,
            "-m",
            "bench.measure.child",
            str(spec_file),
            str(out_file),
            str(images_dir or ""),
        ]
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "TOKENIZERS_PARALLELISM": "false",
            PARENT_ENV: str(os.getpid()),
            RUN_DIR_ENV: tmp,
        }
        env.update(_pinning(spec.device) if pinning is None else pinning)
        env.update(extra_env or {})
        with open(err_file, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=err, stderr=err, start_new_session=True, env=env, cwd=cwd)
            if guard is not None:
                guard.child = proc
                if guard.abort:  # the signal came while the child was starting
                    guard.stop_child()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                proc.wait(timeout=KILL_GRACE_S)
                return parent_record(
                    spec, "timeout", f"run exceeded its {timeout_s:g} s limit; the child was killed", started_at
                )
            finally:
                if guard is not None:
                    guard.child = None
        if out_file.exists():
            try:
                return RunRecord.model_validate(json.loads(out_file.read_text(encoding="utf-8")))
            except (ValueError, json.JSONDecodeError) as exc:
                return parent_record(spec, "error", f"child wrote an unreadable record: {exc}", started_at)
        tail = _stderr_tail(err_file)
        code = proc.returncode
        if guard is not None and guard.killed_pid == proc.pid:
            name = signal.Signals(guard.stop_signal or signal.SIGINT).name
            reason = f"stopped by {'a second Ctrl-C' if name == 'SIGINT' else name} before it finished"
            return parent_record(spec, "interrupted", reason, started_at)
        if code == -signal.SIGKILL:
            reason = "child was killed (SIGKILL): out of host memory (kernel OOM killer) or killed by the user"
            return parent_record(
                spec, "oom", reason, started_at, ErrorInfo(type="Killed", message=reason, traceback_tail=tail)
            )
        reason = f"child exited with code {code} without writing a record"
        if code is not None and code < 0:
            reason = f"child died from signal {signal.Signals(-code).name}"
        return parent_record(
            spec, "error", reason, started_at, ErrorInfo(type="ChildCrash", message=reason, traceback_tail=tail)
        )


def default_results_path(directory: str | Path = "results") -> Path:
    """``results/kbench-YYYYmmdd-HHMMSS.jsonl`` in local time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(directory) / f"kbench-{stamp}.jsonl"

"""The sweep: one fresh child process per run, results appended as each run ends.

The parent never imports torch. Each run is a ``python -m bench.measure.child`` subprocess in its own
process group, waited on with a timeout; a hang is killed (status ``timeout``), a child killed by the
kernel or dying without a record is ``oom``/``error``. The first Ctrl-C lets the current run finish
and stops; a second one kills it. Everything already measured is on disk either way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import __version__
from bench.results import ErrorInfo, RunRecord, append_record, completed_keys, utc_now_iso
from bench.spec import RunSpec

STDERR_TAIL_LINES = 12
KILL_GRACE_S = 5.0


@dataclass
class SweepOutcome:
    """What a sweep did: records written this time, runs skipped by --resume, and whether it was interrupted."""

    results_path: Path
    records: list[RunRecord] = field(default_factory=list)
    resumed_skips: int = 0
    interrupted: bool = False

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status in ("oom", "error", "timeout")]


ProgressCallback = Callable[[str, int, int, RunSpec, RunRecord | None], None]


def static_skip_reason(spec: RunSpec) -> str | None:
    """Reasons a run cannot apply that are known without touching any device."""
    if spec.device == "cpu" and spec.memory in ("model_cpu_offload", "sequential_cpu_offload"):
        return f"{spec.memory} moves weights between CPU and an accelerator; it does not apply on device cpu"
    return None


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


class _InterruptGuard:
    """First SIGINT: finish the current run then stop. Second: kill the current child too."""

    def __init__(self) -> None:
        self.count = 0
        self.child: subprocess.Popen[bytes] | None = None
        self._previous: object = None

    def __enter__(self) -> _InterruptGuard:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count == 1:
            print(
                "\nkbench: interrupt received; finishing the current run, then stopping (Ctrl-C again to abort it)",
                file=sys.stderr,
                flush=True,
            )
        elif self.child is not None and self.child.poll() is None:
            _kill_group(self.child)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _stderr_tail(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.rstrip().splitlines() if line.strip()][-STDERR_TAIL_LINES:]


def run_in_child(
    spec: RunSpec, *, timeout_s: float, images_dir: Path | None = None, guard: _InterruptGuard | None = None
) -> RunRecord:
    """Execute one run in a fresh interpreter and return its record, whatever happened to the child."""
    started_at = utc_now_iso()
    with tempfile.TemporaryDirectory(prefix="kbench-run-") as tmp:
        tmp_path = Path(tmp)
        spec_file, out_file, err_file = tmp_path / "spec.json", tmp_path / "record.json", tmp_path / "stderr.txt"
        spec_file.write_text(spec.model_dump_json(), encoding="utf-8")
        cmd = [sys.executable, "-m", "bench.measure.child", str(spec_file), str(out_file), str(images_dir or "")]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        with open(err_file, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=err, stderr=err, start_new_session=True, env=env)
            if guard is not None:
                guard.child = proc
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
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
        if code == -signal.SIGKILL:
            reason = "child was killed (SIGKILL): out of host memory (kernel OOM killer) or killed by the user"
            return parent_record(
                spec,
                "oom" if guard is None or guard.count < 2 else "error",
                reason,
                started_at,
                ErrorInfo(type="Killed", message=reason, traceback_tail=tail),
            )
        reason = f"child exited with code {code} without writing a record"
        if code is not None and code < 0:
            reason = f"child died from signal {signal.Signals(-code).name}"
        return parent_record(
            spec, "error", reason, started_at, ErrorInfo(type="ChildCrash", message=reason, traceback_tail=tail)
        )


def run_sweep(
    specs: Sequence[RunSpec],
    results_path: str | Path,
    *,
    resume: bool = False,
    timeout_s: float | None = None,
    images_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> SweepOutcome:
    """Run every spec (skipping recorded ones with ``resume``), appending each record as it ends."""
    results_path = Path(results_path)
    outcome = SweepOutcome(results_path=results_path)
    done = completed_keys(results_path) if resume else set()
    todo = [s for s in specs if s.run_key not in done]
    outcome.resumed_skips = len(specs) - len(todo)
    notify = progress or (lambda *args: None)
    with _InterruptGuard() as guard:
        for index, spec in enumerate(todo, start=1):
            if guard.count:
                break
            notify("start", index, len(todo), spec, None)
            reason = static_skip_reason(spec)
            if reason:
                record = parent_record(spec, "skipped", reason, utc_now_iso())
            else:
                record = run_in_child(spec, timeout_s=timeout_s or spec.timeout_s, images_dir=images_dir, guard=guard)
            append_record(results_path, record)
            outcome.records.append(record)
            notify("end", index, len(todo), spec, record)
        outcome.interrupted = guard.count > 0 and len(outcome.records) < len(todo)
    return outcome


def default_results_path(directory: str | Path = "results") -> Path:
    """``results/kbench-YYYYmmdd-HHMMSS.jsonl`` in local time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(directory) / f"kbench-{stamp}.jsonl"

"""A hostile user's toolkit: real files (FIFOs, devices, links, read-only and full file systems) and a CLI
runner that measures what each refusal costs and proves that nothing on disk changed.

Commands run in-process through :func:`bench.cli.main`, so a case costs milliseconds: most hostile input is
refused before anything heavy is imported. Each call is guarded by ``SIGALRM``, so a command that would
block (a FIFO read) fails its test instead of hanging the suite. No case asserts how fast a refusal is (a busy
machine would break that); what an input that could explode would cost is bounded in memory instead
(``tracemalloc``), which load does not change.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.cli import main
from bench.results import Summary, Timing, append_record
from bench.results.schema import RunRecord
from tests.factories import tiny_spec

MAX_OUTPUT_CHARS = 4096  # stdout and stderr together, for a refused command
HOST_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # the test process's own, as each command found them
HANG_S = 120  # a command still running after this blocked (FIFO): far beyond any refusal, even under load

SCENARIO = """\
scenarios:
  - name: hostile
    models: [kandinsky-2.2]
    weights: tiny
    device: cpu
    dtypes: [fp32]
    resolutions: [64x64]
    steps: 2
    prior_steps: 2
    warmup: 0
    repeats: 1
"""


@dataclass
class Outcome:
    """What one command did: exit code, output, time, and which files under the work folder it touched."""

    code: int
    out: str
    err: str
    seconds: float
    changed: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def _tree(root: Path) -> dict[str, str]:
    """Digest of every regular file under ``root`` (FIFOs and devices are never opened)."""
    out: dict[str, str] = {}
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        with contextlib.suppress(OSError):
            out[str(path.relative_to(root))] = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    return out


class _Alarm(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Alarm("the command blocked: a hostile input must never hang a command")


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder the commands run in."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def kb(work: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """Run ``kbench ARGS`` in-process in ``work``; return its :class:`Outcome`."""

    def run(*args: object, timeout: int = HANG_S) -> Outcome:
        before = _tree(work)
        capsys.readouterr()
        handlers = [signal.getsignal(s) for s in HOST_SIGNALS]
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(timeout)
        started = time.perf_counter()
        try:
            code = main([str(a) for a in args])
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        seconds = time.perf_counter() - started
        assert [signal.getsignal(s) for s in HOST_SIGNALS] == handlers, "a command left its signal handlers"
        captured = capsys.readouterr()
        after = _tree(work)
        changed = sorted(k for k, v in before.items() if after.get(k) != v)
        created = sorted(set(after) - set(before))
        return Outcome(code, captured.out, captured.err, seconds, changed, created)

    return run


def refused(outcome: Outcome, *needles: str, code: int = 2) -> str:
    """Assert one ``kbench: error:`` line holding every needle, exit ``code``, bounded output, and no file
    under the work folder changed or created. Returns the line."""
    assert outcome.code == code, (outcome.code, outcome.err[-2000:])
    assert "Traceback" not in outcome.err + outcome.out
    assert len(outcome.err_lines) == 1, outcome.err[-2000:]
    line = outcome.err_lines[0]
    assert line.startswith("kbench: error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    assert len(outcome.out) + len(outcome.err) < MAX_OUTPUT_CHARS, len(outcome.out) + len(outcome.err)
    assert outcome.changed == [], outcome.changed
    assert outcome.created == [], outcome.created
    return line


def write(path: Path, text: str | bytes) -> Path:
    """Write a file (dedented text, or raw bytes) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def ok_record(
    model: str = "kandinsky-2.2", per_image: tuple[float, ...] = (0.50, 0.52, 0.51), **spec: object
) -> RunRecord:
    """A plausible ``ok`` record of a tiny CPU run."""
    run = tiny_spec(model=model, **spec)
    n = len(per_image)
    median = sorted(per_image)[n // 2]
    summary = Summary(
        n=n,
        median_s_per_image=median,
        mean_s_per_image=sum(per_image) / n,
        p90_s_per_image=max(per_image),
        p99_s_per_image=max(per_image),
        min_s_per_image=min(per_image),
        max_s_per_image=max(per_image),
        cv=0.02,
        ci95_low_s_per_image=min(per_image),
        ci95_high_s_per_image=max(per_image),
        images_per_s=1 / median,
    )
    return RunRecord(
        run_key=run.run_key,
        spec=run,
        status="ok",
        timing=Timing(load_s=1.0, first_image_s=1.6, call_s=list(per_image), per_image_s=list(per_image)),
        summary=summary,
        env={"cpu_model": "test cpu", "torch_version": "2.13.0"},
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:05+00:00",
        kbench_version="test",
    )


def results_file(path: Path, *records: RunRecord) -> Path:
    """A results file written through the real store."""
    for record in records or (ok_record(), ok_record("kandinsky-3")):
        append_record(path, record)
    return path


@pytest.fixture
def scenario(work: Path) -> Path:
    return write(work / "s.yaml", SCENARIO)


@pytest.fixture
def results(work: Path) -> Path:
    return results_file(work / "r.jsonl")


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs at ``where`` (root only; the test is skipped, with the reason, elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def read_only_dir(work: Path) -> Iterator[Path]:
    """A folder no file can be created in: a read-only tmpfs as root, a mode-0555 folder otherwise."""
    target = work / "ro"
    if os.geteuid() == 0:
        with mounted_tmpfs(target, "1m", read_only=True):
            yield target
        return
    target.mkdir()
    target.chmod(0o555)
    try:
        yield target
    finally:
        target.chmod(0o755)

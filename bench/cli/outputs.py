"""Output paths checked before a command does any work, and never allowed to be one of its inputs.

Each command lists what it will write (``--out``, ``--report-dir``, ``--save-images``, ``report -o``,
``compare --json-out/--markdown-out``, ``baseline save --to``) and what it reads; :func:`check_outputs` then proves,
in milliseconds and without creating anything, that every output can be written: its folder exists or can be
made, a file can be created there (a real probe, so a read-only mount or a full quota counts, even for root),
an existing file is a writable regular file and not a folder, and the file system has room. An output that is
the same file as an input (same resolved path, or same device and inode through a link) is refused: ``kbench
run s.yaml -o s.yaml`` would append JSON to the scenario, ``compare a.jsonl b.jsonl --json-out a.jsonl`` would
overwrite the baseline.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.errors import OutputError, located
from bench.files import special_kind

MIB = 1024 * 1024
MIN_FREE_BYTES = 4 * MIB  # below this a report or a few records may not fit; a sweep needs more, see MIN_FREE_RUN
MIN_FREE_RUN = 64 * MIB  # a sweep appends records (with timelines) and maybe images for a long time


@dataclass(frozen=True)
class Output:
    """One path a command will write: a file, or a folder it writes files into."""

    option: str  # how the user named it: "--out", "--json", ...
    path: Path
    kind: Literal["file", "dir"] = "file"


def _fail(output: Output, message: str, path: Path | None = None) -> OutputError:
    return OutputError(located(message, file=path or output.path, field=output.option))


def _nearest_existing(output: Output) -> Path:
    """The deepest existing ancestor of the output (the folder its missing folders would be made in)."""
    here = output.path if output.kind == "dir" else output.path.parent
    here = Path(os.path.abspath(here))
    while True:
        try:
            st = os.stat(here)
        except (FileNotFoundError, NotADirectoryError):
            if here.parent == here:
                raise _fail(output, "no existing folder above it") from None
            here = here.parent
            continue
        except OSError as exc:
            raise _fail(output, f"cannot reach its folder ({exc.strerror or exc})", here) from None
        if not os.path.isdir(here):
            kind = special_kind(st.st_mode) or "a file"
            raise _fail(output, f"{here} is {kind}, not a folder", output.path)
        return here


def _probe(output: Output, folder: Path) -> None:
    """Create and remove a file in ``folder``: the one test that answers for permissions, mounts and quotas."""
    try:
        fd, name = tempfile.mkstemp(prefix=".kbench-probe-", dir=folder)
    except OSError as exc:
        raise _fail(output, f"cannot create files in {folder} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)


def _check_existing_file(output: Output) -> None:
    try:
        st = os.stat(output.path)
    except (FileNotFoundError, NotADirectoryError):  # not there yet: its folder is checked next
        return
    except OSError as exc:
        raise _fail(output, f"cannot reach it ({exc.strerror or exc})") from None
    if os.path.isdir(output.path):
        raise _fail(output, "is a folder; give a file path")
    kind = special_kind(st.st_mode)
    if kind is not None:
        raise _fail(output, f"is {kind}, not a regular file")
    try:
        fd = os.open(output.path, os.O_WRONLY | os.O_APPEND)  # neither creates nor truncates
    except OSError as exc:
        raise _fail(output, f"is not writable ({exc.strerror or exc})") from None
    os.close(fd)


def _check_one(output: Output, min_free: int) -> None:
    if output.kind == "file":
        _check_existing_file(output)
    folder = _nearest_existing(output)
    _probe(output, folder)
    free = shutil.disk_usage(folder).free
    if free < min_free:
        need = f"{min_free / MIB:.0f} MiB needed"
        raise _fail(output, f"only {free / MIB:.1f} MiB free on the file system of {folder}; {need}")


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same resolved path, or the same device and inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs: Sequence[Output], inputs: Iterable[Path] = (), *, min_free: int = MIN_FREE_BYTES) -> None:
    """Refuse, with one line naming the option and the path, any output that cannot be written or is an input.

    Raises:
        OutputError: the first output that fails a check (exit code 2); nothing has been created.
    """
    inputs = [Path(p) for p in inputs]
    files = [o for o in outputs if o.kind == "file"]
    for i, output in enumerate(files):
        for source in inputs:
            if same_file(output.path, source):
                raise _fail(output, f"is also an input of this command ({source}); write elsewhere")
        for other in files[:i]:
            if same_file(output.path, other.path):
                raise _fail(output, f"is also the {other.option} output; give each output its own path")
    for output in outputs:
        _check_one(output, min_free)


def looks_like_results(path: Path) -> bool:
    """True for a missing or empty file, or one whose first line starts like a kbench results record."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip()
    except FileNotFoundError:
        return True
    except OSError:
        return False  # the output check names the reason
    return not head or head.startswith(b'{"schema_version"')


def check_results_output(path: Path, inputs: Iterable[Path], extra: Sequence[Output] = ()) -> None:
    """``kbench run``'s outputs: the results file it appends to (a results file or a new one) and ``extra``."""
    output = Output("--out", path)
    check_outputs([output, *extra], inputs, min_free=MIN_FREE_RUN)
    if not looks_like_results(path):
        raise _fail(output, "exists and is not a kbench results file; refusing to append to it")


__all__ = [
    "MIN_FREE_BYTES",
    "MIN_FREE_RUN",
    "Output",
    "check_outputs",
    "check_results_output",
    "looks_like_results",
    "same_file",
]

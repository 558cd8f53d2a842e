"""Input files as the command line receives them: regular files only, read boundedly, UTF-8 text checked.

Every file argument of every command passes through here (scenarios, results, catalogs, thresholds, prompt
sets), so a FIFO cannot hang a command, ``/dev/zero`` cannot fill memory, and a binary or oversized file is
one line naming the file instead of a traceback. A leaf module: it imports only :mod:`bench.errors`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bench.errors import InputFileError, KbenchError, located

MIB = 1024 * 1024
MAX_TEXT_BYTES = 1 * MIB  # scenario, catalog, thresholds and prompt files: hand-written text, never this big

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def special_kind(mode: int) -> str | None:
    """What a non-regular file is (``a FIFO (named pipe)``, ...), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_input_file(path: str | Path, what: str, error: type[KbenchError] = InputFileError) -> os.stat_result:
    """Stat ``path`` (never opening it) and require a regular file.

    Raises:
        error: the file is missing or unreadable, or is a directory, FIFO, device or socket.
    """
    what = _noun(what)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise error(located(f"cannot read {what} file ({exc.strerror or exc})", file=path)) from None
    kind = special_kind(st.st_mode)
    if kind is not None:
        raise error(located(f"is {kind}, not a {what} file", file=path))
    return st


def _noun(what: str) -> str:
    """``"scenario file"`` and ``"scenario"`` both name the kind of file as ``"scenario"``."""
    return what.removesuffix(" file")


def read_bytes_capped(
    path: str | Path, what: str, error: type[KbenchError] = InputFileError, max_bytes: int | None = MAX_TEXT_BYTES
) -> bytes:
    """The bytes of a regular file, refusing one over ``max_bytes`` (None: no cap) before reading it."""
    st = check_input_file(path, what, error)
    what = _noun(what)
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(located(f"{what} file is {st.st_size:,} bytes; the limit is {max_bytes:,}", file=path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # swapped for a FIFO after the stat: never block
    except OSError as exc:
        raise error(located(f"cannot read {what} file ({exc.strerror or exc})", file=path)) from None
    try:
        if special_kind(os.fstat(fd).st_mode) is not None:
            raise error(located(f"is not a regular {what} file", file=path))
        limit = max_bytes + 1 if max_bytes is not None else None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit) if limit is not None else fh.read()
    except OSError as exc:
        raise error(located(f"cannot read {what} file ({exc.strerror or exc})", file=path)) from None
    finally:
        os.close(fd)
    if max_bytes is not None and len(data) > max_bytes:  # grew since the stat
        raise error(located(f"{what} file is over the {max_bytes:,}-byte limit", file=path))
    return data


def decode_text(data: bytes, path: str | Path, what: str, error: type[KbenchError] = InputFileError) -> str:
    """Strict UTF-8 text: a NUL byte or an invalid sequence is an error naming the byte offset."""
    what = _noun(what)
    nul = data.find(b"\0")
    if nul >= 0:
        raise error(located(f"{what} file is binary, not text (a NUL byte at offset {nul:,})", file=path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        message = f"{what} file is not UTF-8 text (byte 0x{bad} at offset {exc.start:,})"
        raise error(located(message, file=path)) from None


def read_text_capped(
    path: str | Path, what: str, error: type[KbenchError] = InputFileError, max_bytes: int = MAX_TEXT_BYTES
) -> str:
    """A small regular UTF-8 text file (scenario, catalog, thresholds, prompts), whole."""
    return decode_text(read_bytes_capped(path, what, error, max_bytes), path, what, error)


def read_tail(path: str | Path, max_bytes: int) -> tuple[bytes, bool]:
    """The last ``max_bytes`` of a file, read from its end, and whether anything came before them: a log or an
    output file may have grown without bound, and its reader needs only its last lines.

    Raises:
        OSError: the file cannot be opened or read.
    """
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - max_bytes))
        return fh.read(max_bytes), size > max_bytes


__all__ = [
    "MAX_TEXT_BYTES",
    "check_input_file",
    "decode_text",
    "read_bytes_capped",
    "read_tail",
    "read_text_capped",
    "special_kind",
]

"""HTTP requests bounded as a whole and given up on a stop, whatever they wait for.

httpx bounds each socket operation on its own (a server answering a byte a second never times out), and nothing
it offers ends, from another thread, a wait for a reply's headers. Here the client's httpcore pool runs on a
network backend whose waits are cut in slices of :data:`POLL_S`: between slices a stream asks the request the
current thread is making (:func:`bounded_request`) whether its deadline has passed or its load point stopped, and
gives up if so. A request whose endpoint accepts and never answers then ends at its deadline, or at once on a
signal, and the connection is closed, never reused.

Imported only when a serve scenario runs: httpx and httpcore come with the serve extra.
"""

from __future__ import annotations

import contextlib
import math
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import httpcore
import httpx

POLL_S = 0.2  # how often a blocked read looks at its request's deadline and stop flag
CONNECT_SLICE_S = 1.0  # a connect attempt given up and made again, so a stop is seen while a host stays silent
Cut = Literal["timeout", "stopped"]
CUT_REASONS: dict[str, str] = {
    "timeout": "request timed out (connect, send and the whole reply)",
    "too-large": "reply larger than the byte cap: not read further",
    "stopped": "stopped before the reply came",
}


class Bound:
    """The limits of the request a thread is making: a deadline for all of it and a stop flag; ``cut`` says
    which ended it (``None`` while neither has)."""

    def __init__(self, timeout_s: float, should_stop: Callable[[], bool] | None) -> None:
        self.deadline = time.monotonic() + timeout_s
        self.should_stop = should_stop
        self.cut: Cut | None = None

    def left(self) -> float:
        """Seconds until the deadline (0 once it has passed)."""
        return max(0.0, self.deadline - time.monotonic())

    def check(self) -> None:
        """Raise ``httpcore.ReadError`` once the request is cut: httpcore then closes the connection (a reply
        read halfway cannot be reused), and httpx hands the caller an ``httpx.ReadError``."""
        if self.cut is None:
            if time.monotonic() >= self.deadline:
                self.cut = "timeout"
            elif self.should_stop is not None and self.should_stop():
                self.cut = "stopped"
        if self.cut is not None:
            raise httpcore.ReadError(CUT_REASONS[self.cut])

    def within(self, timeout: float | None) -> float:
        """An operation's own timeout, shortened to what is left of the deadline (checked first)."""
        self.check()
        return max(0.001, min(math.inf if timeout is None else timeout, self.left()))


_LOCAL = threading.local()  # .bound: the Bound of the request this thread is making, if any


def current_bound() -> Bound | None:
    """The bound of the request the calling thread is making (``None`` outside :func:`bounded_request`)."""
    bound = getattr(_LOCAL, "bound", None)
    return bound if isinstance(bound, Bound) else None


@contextlib.contextmanager
def bounded_request(timeout_s: float, should_stop: Callable[[], bool] | None = None) -> Iterator[Bound]:
    """Make the requests of this block, on this thread, end by ``timeout_s`` or as soon as ``should_stop()``.

    Sync httpcore does a request's socket work on the calling thread, a reused pooled connection included, so
    a thread-local bound reaches every wait of it.
    """
    bound, previous = Bound(timeout_s, should_stop), current_bound()
    _LOCAL.bound = bound
    try:
        yield bound
    finally:
        _LOCAL.bound = previous


class StoppableStream(httpcore.NetworkStream):
    """A connection whose blocking reads wait in slices and give up when the reading thread's request is cut."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bound = current_bound()
        if bound is None:
            return self._stream.read(max_bytes, timeout)
        end = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            wait = min(POLL_S, end - time.monotonic(), bound.within(None))
            try:  # a recv that timed out took nothing (TLS keeps a partial record): safe to make again
                return self._stream.read(max_bytes, max(0.001, wait))
            except httpcore.ReadTimeout:
                if time.monotonic() >= end:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        bound = current_bound()
        self._stream.write(buffer, bound.within(timeout) if bound is not None else timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bound = current_bound()
        within = bound.within(timeout) if bound is not None else timeout
        return StoppableStream(self._stream.start_tls(ssl_context, server_hostname, within))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class StoppableBackend(httpcore.NetworkBackend):
    """httpcore's own backend, its connects made in slices and its streams stoppable."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bound = current_bound()
        if bound is None:
            return StoppableStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))
        end = math.inf if timeout is None else time.monotonic() + timeout
        while True:
            wait = max(0.001, min(CONNECT_SLICE_S, end - time.monotonic(), bound.within(None)))
            try:
                return StoppableStream(self._backend.connect_tcp(host, port, wait, local_address, socket_options))
            except httpcore.ConnectTimeout:
                if time.monotonic() >= end:
                    raise

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return StoppableStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def stoppable_client(timeout_s: float, *, base_url: str = "", max_connections: int = 512) -> httpx.Client:
    """An ``httpx.Client`` whose requests made inside :func:`bounded_request` end at its deadline or stop.

    The transport is httpx's own (its error mapping, its response streams) with its httpcore pool rebuilt, as
    httpx builds it, on :class:`StoppableBackend`: httpx takes no network backend of its own accord.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=min(64, max_connections))
    transport = httpx.HTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=StoppableBackend(),
    )
    return httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport, trust_env=False)


def read_capped(reply: httpx.Response, max_bytes: int) -> bytes | None:
    """The reply body, or ``None`` once it passes ``max_bytes`` (not read further). Inside
    :func:`bounded_request`, the deadline and the stop flag cut a read under way (``httpx.ReadError``)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in reply.iter_raw(chunk_size=64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = [
    "CUT_REASONS",
    "POLL_S",
    "Bound",
    "StoppableBackend",
    "StoppableStream",
    "bounded_request",
    "current_bound",
    "read_capped",
    "stoppable_client",
]

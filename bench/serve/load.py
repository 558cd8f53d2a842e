"""The load generator: open loop (seeded Poisson or constant arrivals) or closed loop (fixed concurrency).

Every load point is bounded twice: at most ``max_requests`` requests, sent within ``duration_s``; each
request is bounded by the client's timeout, so a point ends by ``duration_s + timeout + grace`` whatever the
server does. Open-loop arrivals do not wait for replies (a slow server builds a queue, as real users would);
they come from a ``numpy`` Generator seeded per point, so a rerun offers the same load.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.serve.clients import Outcome, Target
from bench.serve.engine import GenRequest

MAX_IN_FLIGHT = 512  # client threads of one open-loop point; more outstanding requests are sent late
GRACE_S = 5.0  # beyond the request timeout, for replies already on their way
WATCH_S = 0.25  # how often a waiting driver checks the server and the stop flag


def arrival_offsets(arrivals: str, rate: float, count: int, seed: int) -> list[float]:
    """Send times (seconds from the start) of ``count`` requests at mean ``rate`` per second.

    ``poisson``: exponential gaps (``numpy.random.Generator(PCG64(seed))``), the first request at 0;
    ``constant``: one request every ``1 / rate`` seconds.
    """
    if rate <= 0 or count < 0:
        raise ValueError(f"rate must be > 0 and count >= 0, got {rate}, {count}")
    if arrivals == "constant":
        return [i / rate for i in range(count)]
    if arrivals != "poisson":
        raise ValueError(f"open-loop arrivals are poisson or constant, not {arrivals!r}")
    import numpy as np

    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=max(count - 1, 0))
    return [0.0, *np.cumsum(gaps).tolist()][:count]


@dataclass
class LoadResult:
    """What one load point produced; ``stop_reason`` says why it ended early (server gone, interrupted)."""

    outcomes: list[Outcome] = field(default_factory=list)
    sent: int = 0
    started_s: float = 0.0
    finished_s: float = 0.0
    stop_reason: str | None = None
    interrupted: bool = False

    @property
    def window_s(self) -> float:
        return max(0.0, self.finished_s - self.started_s)


class _Watch:
    """Stops a load point when the server has gone or the user asked (checked by every waiting thread)."""

    def __init__(self, server_gone: Callable[[], str | None], interrupted: Callable[[], bool]) -> None:
        self._server_gone, self._interrupted = server_gone, interrupted
        self.reason: str | None = None
        self.interrupted = False
        self.event = threading.Event()

    def check(self) -> bool:
        if not self.event.is_set():
            if self._interrupted():
                self.reason, self.interrupted = "interrupted", True
                self.event.set()
            elif reason := self._server_gone():
                self.reason = reason
                self.event.set()
        return self.event.is_set()


def _finish(result: LoadResult, watch: _Watch) -> LoadResult:
    done = [o.done_s for o in result.outcomes]
    result.finished_s = max([result.started_s, *done]) if done else time.time()
    result.outcomes.sort(key=lambda o: o.sent_s)
    result.stop_reason, result.interrupted = watch.reason, watch.interrupted
    return result


def run_open_loop(
    target: Target,
    requests: Sequence[GenRequest],
    offsets: Sequence[float],
    *,
    duration_s: float,
    timeout_s: float,
    server_gone: Callable[[], str | None] = lambda: None,
    interrupted: Callable[[], bool] = lambda: False,
) -> LoadResult:
    """Send ``requests[i]`` at ``offsets[i]`` (those within ``duration_s``), each on its own client thread."""
    watch = _Watch(server_gone, interrupted)
    planned = [t for t in offsets if t < duration_s][: len(requests)]
    result = LoadResult(started_s=time.time())
    futures: list[Future[Outcome]] = []
    workers = max(1, min(len(planned), MAX_IN_FLIGHT))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kbench-client")
    try:
        origin = time.monotonic()
        for request, offset in zip(requests, planned, strict=False):
            while (delay := origin + offset - time.monotonic()) > 0:
                if watch.check():
                    break
                watch.event.wait(min(delay, WATCH_S))
            if watch.check():
                break
            futures.append(pool.submit(target.send, request, watch.check))
        deadline = time.monotonic() + timeout_s + GRACE_S
        for future in futures:
            while not future.done() and time.monotonic() < deadline:
                watch.check()
                future_wait(future, WATCH_S)
    finally:
        watch.event.set()  # any client still waiting gives up now
        pool.shutdown(wait=True, cancel_futures=True)
    result.sent = len(futures)
    result.outcomes = [f.result() for f in futures if not f.cancelled() and f.exception() is None]
    return _finish(result, watch)


def run_closed_loop(
    target: Target,
    request_for: Callable[[int], GenRequest],
    concurrency: int,
    *,
    max_requests: int,
    duration_s: float,
    server_gone: Callable[[], str | None] = lambda: None,
    interrupted: Callable[[], bool] = lambda: False,
) -> LoadResult:
    """``concurrency`` client threads, each sending its next request as soon as its last one is answered."""
    watch = _Watch(server_gone, interrupted)
    result = LoadResult(started_s=time.time())
    lock = threading.Lock()
    counter = [0]
    stop_at = time.monotonic() + duration_s

    def client() -> None:
        while not watch.check() and time.monotonic() < stop_at:
            with lock:
                index = counter[0]
                if index >= max_requests:
                    return
                counter[0] += 1
            outcome = target.send(request_for(index), watch.check)
            with lock:
                result.outcomes.append(outcome)

    threads = [threading.Thread(target=client, name=f"kbench-client-{i}", daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                watch.check()
                thread.join(WATCH_S)
    finally:
        watch.event.set()
        for thread in threads:
            thread.join()
    result.sent = counter[0]
    return _finish(result, watch)


def future_wait(future: Future[Outcome], timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        future.exception(timeout=timeout_s)


__all__ = ["GRACE_S", "LoadResult", "arrival_offsets", "run_closed_loop", "run_open_loop"]

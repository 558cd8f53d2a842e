"""A discrete-event simulation of the serving queue: arrivals, c replicas, dynamic batching, one FIFO queue.

A plain event loop over a heap rather than simpy: the model has three event kinds (arrival, batch done,
batching window closes) and no process that blocks, so a heap states the rules in one place, its tie-breaking
is explicit (events at one instant run in the order they were scheduled), and it runs several times faster
than simpy's generator switching, which matters when a max-rate search runs hundreds of simulations.

Rules, matching a Gradio queue with ``batch=True`` (and any server that batches the same way):

* one FIFO queue in front of ``replicas`` identical workers (a load balancer with a shared queue);
* a free replica takes up to ``max_batch`` waiting requests at once; with ``batch_window_s > 0`` it waits for
  more until the oldest waiting request has waited that long or the batch is full (Gradio: no window);
* a batch of b requests occupies its replica for a service time drawn for batch size b; every request in it
  finishes when the batch does; ``overhead_s`` (client, network, encoding) is added to each latency without
  occupying a replica; ``idle_start_s`` is added to a batch that starts the moment its request arrives (a server
  whose queue loop sleeps while empty wakes up first), so it is paid at light load and fades as load rises.

Arrivals: ``poisson`` (exponential gaps), ``constant`` (evenly spaced) or ``closed`` (``concurrency`` clients,
each sending its next request as soon as the previous one returns). Gaps are one seeded unit-rate sequence
divided by the rate, so every rate sees the same arrival pattern (common random numbers): latency then rises
monotonically with rate, which the max-rate search relies on. Bounded by ``max_requests`` and, only where one
is given, a simulated-time ``horizon_s``; a run cut by the horizon says so in its :class:`~.point.Basis`.

Each run takes the fastest path that is the same queue: one replica without batching is Lindley's recursion,
vectorised (``W[n+1] = max(0, W[n] + S[n] - gap[n+1])`` is a running minimum of a cumulative sum); several
replicas or batching without a window is a loop over batches (the earliest-free replica takes up to
``max_batch`` of the requests that arrived by then); a batching window or a closed loop runs the event loop.
The tests check every path against the event loop. One run is one seed; :mod:`.estimate` combines seeds.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from bench.cost.serving.point import Basis, LoadPoint
from bench.cost.serving.service import ServiceTimes

Arrivals = Literal["poisson", "constant", "closed"]
ARRIVALS: tuple[str, ...] = ("poisson", "constant", "closed")
DEFAULT_REQUESTS = 2000
_ARRIVE, _DONE, _WINDOW = 0, 1, 2


@dataclass(frozen=True)
class QueueConfig:
    """How requests arrive and how the server takes them."""

    arrivals: Arrivals = "poisson"
    replicas: int = 1
    max_batch: int = 1
    batch_window_s: float = 0.0
    concurrency: int = 1  # closed loop only
    max_requests: int = DEFAULT_REQUESTS
    horizon_s: float | None = None  # simulated seconds after which no request arrives; None: no such limit
    overhead_s: float = 0.0
    idle_start_s: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.arrivals not in ARRIVALS:
            raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}, got {self.arrivals!r}")
        for name in ("replicas", "max_batch", "concurrency", "max_requests"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("batch_window_s", "overhead_s", "idle_start_s"):
            value = float(getattr(self, name))
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.horizon_s is not None and not self.horizon_s > 0:
            raise ValueError(f"horizon_s must be > 0, got {self.horizon_s}")


def unit_gaps(n: int, arrivals: Arrivals, seed: int) -> np.ndarray:
    """``n`` inter-arrival gaps at rate 1 (divide by a rate to get seconds)."""
    if arrivals == "poisson":
        return np.random.default_rng([seed, 1]).exponential(1.0, n)
    return np.ones(n)


def uniforms(service: ServiceTimes, n: int, seed: int) -> np.ndarray | None:
    """The seeded uniforms the ``n`` calls are drawn from, in the order they start (None: every call is fixed)."""
    return np.random.default_rng([seed, 2]).random(n) if service.random else None


@dataclass(frozen=True)
class Trace:
    """Every request of one run: when it arrived, started and finished, and what the replicas did."""

    arrival: np.ndarray
    start: np.ndarray
    done: np.ndarray
    busy_s: float  # replica-seconds spent in calls
    batches: int
    requested: int  # the requests the run was asked for (more than arrived when a horizon cut it)


class _Run:
    """The state of one simulation: the event heap, the queue, the free replicas and every request's times."""

    def __init__(self, service: ServiceTimes, config: QueueConfig, u: np.ndarray | None) -> None:
        self.service, self.config, self.u = service, config, u
        self.max_batch = min(config.max_batch, service.max_batch)
        self.events: list[tuple[float, int, int, int]] = []  # (time, seq, kind, payload)
        self.seq = 0
        self.arrival_t: list[float] = []
        self.start_t: list[float] = []
        self.done_t: list[float] = []
        self.queue: deque[int] = deque()
        self.free = config.replicas
        self.busy_s = 0.0
        self.batches = 0
        self.window_at = math.inf
        self.running: dict[int, list[int]] = {}

    def push(self, t: float, kind: int, payload: int = 0) -> None:
        heapq.heappush(self.events, (t, self.seq, kind, payload))
        self.seq += 1

    def dispatch(self, now: float) -> None:
        """Give waiting requests to free replicas, or set the batching window's timer."""
        window = self.config.batch_window_s
        while self.free and self.queue:
            oldest = self.arrival_t[self.queue[0]]
            if len(self.queue) < self.max_batch and now < oldest + window:
                if self.window_at != oldest + window:
                    self.window_at = oldest + window
                    self.push(self.window_at, _WINDOW)
                return
            batch = [self.queue.popleft() for _ in range(min(self.max_batch, len(self.queue)))]
            u = 0.0 if self.u is None else float(self.u[self.batches])
            seconds = self.service.draw(len(batch), u)
            if now == oldest:  # it found the replica idle
                seconds += self.config.idle_start_s
            for request in batch:
                self.start_t[request] = now
            self.free -= 1
            self.busy_s += seconds
            self.batches += 1
            self.running[self.seq] = batch
            self.push(now + seconds, _DONE, self.seq)

    def arrive(self, now: float) -> None:
        self.arrival_t.append(now)
        self.start_t.append(math.nan)
        self.done_t.append(math.nan)
        self.queue.append(len(self.arrival_t) - 1)

    def finish(self, now: float, batch_id: int) -> int:
        """Complete a batch; returns how many requests it held."""
        self.free += 1
        batch = self.running.pop(batch_id)
        for request in batch:
            self.done_t[request] = now
        return len(batch)


def simulate(service: ServiceTimes, config: QueueConfig, rate_per_s: float | None = None) -> LoadPoint:
    """One seeded run at ``rate_per_s`` (open loop) or at ``config.concurrency`` (closed) until it drains."""
    return summarise(trace(service, config, rate_per_s), config, rate_per_s)


def trace(service: ServiceTimes, config: QueueConfig, rate_per_s: float | None = None) -> Trace:
    """Every request's times in one seeded run, by the fastest path that is the same queue."""
    closed = config.arrivals == "closed"
    if not closed and not (rate_per_s is not None and rate_per_s > 0 and math.isfinite(rate_per_s)):
        raise ValueError(f"an open-loop simulation needs a rate > 0, got {rate_per_s}")
    if closed:
        return _events(service, config, None)
    return _open(service, config, _arrival_times(config, float(rate_per_s or 1.0)), config.max_requests)


def replay(service: ServiceTimes, config: QueueConfig, arrival_s: Sequence[float]) -> LoadPoint:
    """The queue fed a recorded arrival trace (seconds from the start, ascending) instead of a drawn one.

    A measured load point's own send times give the simulator the same arrivals the server saw, so a comparison
    of the two differs by service times and the server, not by the luck of the draw.
    """
    times = [float(t) for t in arrival_s]
    if not times or any(not (math.isfinite(t) and t >= 0) for t in times) or times != sorted(times):
        raise ValueError("an arrival trace must be ascending, finite seconds >= 0, with at least one request")
    span = times[-1] - times[0]
    rate = (len(times) - 1) / span if span > 0 else None
    cfg = replace(config, arrivals="constant") if config.arrivals == "closed" else config
    return summarise(_open(service, cfg, times, len(times)), cfg, rate)


def _arrival_times(config: QueueConfig, rate_per_s: float) -> list[float]:
    times = np.cumsum(unit_gaps(config.max_requests, config.arrivals, config.seed)) / rate_per_s
    if config.horizon_s is not None:
        times = times[times <= config.horizon_s]
    if not len(times):
        raise ValueError(f"no request arrives within horizon_s={config.horizon_s:g} at {rate_per_s:g}/s")
    return times.tolist()


def _open(service: ServiceTimes, config: QueueConfig, arrival: list[float], requested: int) -> Trace:
    """An open-loop run over given arrival times: vectorised, batch loop, or event loop (module docstring)."""
    batch = min(config.max_batch, service.max_batch)
    if batch == 1 and config.idle_start_s == 0 and (config.replicas == 1 or not service.random):
        return _lindley(service, config, arrival, requested)
    if batch == 1 or config.batch_window_s == 0:
        return _batches(service, config, arrival, requested)
    return _events(service, config, arrival, requested)


def simulate_events(
    service: ServiceTimes,
    config: QueueConfig,
    rate_per_s: float | None = None,
    arrival_s: Sequence[float] | None = None,
) -> LoadPoint:
    """The general event loop (:func:`simulate` takes a faster equivalent where there is one)."""
    if config.arrivals == "closed":
        return summarise(_events(service, config, None), config, rate_per_s)
    arrival = list(arrival_s) if arrival_s is not None else _arrival_times(config, float(rate_per_s or 1.0))
    return summarise(_events(service, config, arrival, config.max_requests), config, rate_per_s)


def _events(service: ServiceTimes, config: QueueConfig, arrival: list[float] | None, requested: int = 0) -> Trace:
    closed = arrival is None
    n = config.max_requests if arrival is None else len(arrival)
    run = _Run(service, config, uniforms(service, n, config.seed))
    if arrival is None:
        for _ in range(min(config.concurrency, config.max_requests)):
            run.push(0.0, _ARRIVE)
    else:
        for t in arrival:
            run.push(t, _ARRIVE)
    issued = len(run.events)
    horizon = math.inf if config.horizon_s is None else config.horizon_s
    while run.events:
        now, _, kind, payload = heapq.heappop(run.events)
        if kind == _ARRIVE:
            run.arrive(now)
        elif kind == _DONE:
            returned = run.finish(now, payload)
            if closed:  # each client sends its next request as soon as this one returns
                for _ in range(returned):
                    if issued < config.max_requests and now < horizon:
                        run.push(now, _ARRIVE)
                        issued += 1
        run.dispatch(now)
    return Trace(
        np.asarray(run.arrival_t), np.asarray(run.start_t), np.asarray(run.done_t), run.busy_s, run.batches,
        config.max_requests if closed else requested,
    )  # fmt: skip


def _lindley(service: ServiceTimes, config: QueueConfig, arrival: list[float], requested: int) -> Trace:
    """No batching: ``W[n] = R[n] - min(R[0..n])`` with ``R`` the cumulative ``S[k] - gap[k+1]`` (Lindley).

    With ``c`` replicas and a fixed call time, request ``n`` starts when it arrives or when request ``n - c``
    finishes, whichever is later (calls end in the order they start, so the replica that frees first is the one
    ``n - c`` held): the queue is ``c`` single-server queues over every ``c``-th arrival, each solved the same way.
    """
    a = np.asarray(arrival, dtype=float)
    u = uniforms(service, len(a), config.seed)
    s = service.draws(1, u) if u is not None else np.full(len(a), service.seconds(1))
    start = np.empty(len(a))
    for k in range(min(config.replicas, len(a))):
        ak, sk = a[k :: config.replicas], s[k :: config.replicas]
        r = np.concatenate(([0.0], np.cumsum(sk[:-1] - np.diff(ak))))
        start[k :: config.replicas] = ak + (r - np.minimum.accumulate(r))
    return Trace(a, start, start + s, float(s.sum()), len(a), requested)


def _batches(service: ServiceTimes, config: QueueConfig, arrival: list[float], requested: int) -> Trace:
    """Replicas and batching without a window: the earliest-free replica takes what has arrived, up to the batch.

    A replica free before the next request arrives starts it alone the moment it arrives (and pays
    ``idle_start_s``), as the event loop does; one that frees while requests wait takes up to ``max_batch`` of
    those that arrived by then, in arrival order.
    """
    n, top = len(arrival), min(config.max_batch, service.max_batch)
    u = uniforms(service, n, config.seed)
    fixed = [0.0, *(service.seconds(b) for b in range(1, top + 1))]
    draw, idle_start, right, pop, push = (
        service.draw,
        config.idle_start_s,
        bisect.bisect_right,
        heapq.heappop,
        heapq.heappush,
    )
    begins: list[float] = []
    ends: list[float] = []
    sizes: list[int] = []
    free = [-math.inf] * config.replicas  # a heap of the times each replica is next free
    one = config.replicas == 1
    f = -math.inf
    i = 0
    while i < n:
        if not one:
            f = pop(free)
        t = arrival[i]
        if t <= f:
            begin, j = f, min(i + top, right(arrival, f, i))
        else:
            begin, j = t, i + 1
        seconds = fixed[j - i] if u is None else draw(j - i, float(u[len(sizes)]))
        if begin == t:  # it found the replica idle
            seconds += idle_start
        f = begin + seconds
        begins.append(begin)
        ends.append(f)
        sizes.append(j - i)
        if not one:
            push(free, f)
        i = j
    busy = float(np.sum(np.subtract(ends, begins)))
    start, done = np.repeat(begins, sizes), np.repeat(ends, sizes)
    return Trace(np.asarray(arrival, dtype=float), start, done, busy, len(sizes), requested)


def summarise(
    run: Trace, config: QueueConfig, rate_per_s: float | None, warmup: int = 0, basis: Basis | None = None
) -> LoadPoint:
    """The load point of one run; statistics leave out the first ``warmup`` requests (the empty-queue start)."""
    return pool([run], config, rate_per_s, warmup, basis)


def pool(
    runs: Sequence[Trace], config: QueueConfig, rate_per_s: float | None, warmup: int = 0, basis: Basis | None = None
) -> LoadPoint:
    """One load point from several seeded runs of the same queue: their requests pooled, seeds combined."""
    latency = np.concatenate([r.done[warmup:] - r.arrival[warmup:] for r in runs]) + config.overhead_s
    wait = np.concatenate([r.start[warmup:] - r.arrival[warmup:] for r in runs])
    spans = [float(np.max(r.done) - np.min(r.arrival)) for r in runs]
    completed = sum(len(r.arrival) for r in runs)
    span = sum(spans)
    busy = sum(r.busy_s for r in runs)
    p50, p90, p99 = (float(v) for v in np.percentile(latency, [50, 90, 99]))
    arrived = min(len(r.arrival) for r in runs)
    if basis is None:
        basis = Basis("simulated", requests=runs[0].requested, seeds=len(runs), warmup=warmup)
    if config.horizon_s is not None and arrived < runs[0].requested:
        basis = replace(basis, horizon_s=config.horizon_s, arrived=arrived)
    return LoadPoint(
        offered_rate_per_s=None if config.arrivals == "closed" else rate_per_s,
        concurrency=config.concurrency if config.arrivals == "closed" else None,
        replicas=config.replicas,
        completed=completed,
        throughput_per_s=completed / span if span > 0 else math.inf,
        p50_s=p50,
        p90_s=p90,
        p99_s=p99,
        max_s=float(latency.max()),
        mean_s=float(latency.mean()),
        mean_wait_s=float(wait.mean()),
        p99_wait_s=float(np.percentile(wait, 99)),
        mean_batch=completed / sum(r.batches for r in runs),
        utilisation=min(1.0, busy / (config.replicas * span)) if span > 0 else 1.0,
        basis=basis,
    )


__all__ = [
    "ARRIVALS",
    "DEFAULT_REQUESTS",
    "Arrivals",
    "LoadPoint",
    "QueueConfig",
    "Trace",
    "pool",
    "replay",
    "simulate",
    "simulate_events",
    "summarise",
    "trace",
    "uniforms",
    "unit_gaps",
]

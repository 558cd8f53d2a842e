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
monotonically with rate, which the max-rate search relies on. Bounded by ``max_requests`` and ``horizon_s``.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from bench.cost.serving.service import ServiceTimes

Arrivals = Literal["poisson", "constant", "closed"]
ARRIVALS: tuple[str, ...] = ("poisson", "constant", "closed")
DEFAULT_REQUESTS = 2000
DEFAULT_HORIZON_S = 7 * 24 * 3600.0  # simulated time; the request count is normally the bound that stops it
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
    horizon_s: float = DEFAULT_HORIZON_S
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
        if not self.horizon_s > 0:
            raise ValueError(f"horizon_s must be > 0, got {self.horizon_s}")


@dataclass(frozen=True)
class LoadPoint:
    """What one simulated load point gives: latency percentiles, throughput and utilisation."""

    offered_rate_per_s: float | None  # None for a closed loop
    concurrency: int | None
    replicas: int
    completed: int
    throughput_per_s: float
    p50_s: float
    p90_s: float
    p99_s: float
    max_s: float
    mean_s: float
    mean_wait_s: float
    p99_wait_s: float
    mean_batch: float
    utilisation: float  # busy replica-seconds / (replicas x span of the run)


def unit_gaps(n: int, arrivals: Arrivals, seed: int) -> np.ndarray:
    """``n`` inter-arrival gaps at rate 1 (divide by a rate to get seconds)."""
    if arrivals == "poisson":
        return np.random.default_rng([seed, 1]).exponential(1.0, n)
    return np.ones(n)


class _Run:
    """The state of one simulation: the event heap, the queue, the free replicas and every request's times."""

    def __init__(self, service: ServiceTimes, config: QueueConfig) -> None:
        self.service, self.config = service, config
        self.max_batch = min(config.max_batch, service.max_batch)
        self.rng = np.random.default_rng([config.seed, 2])
        self.events: list[tuple[float, int, int, int]] = []  # (time, seq, kind, payload)
        self.seq = 0
        self.arrival_t: list[float] = []
        self.start_t: list[float] = []
        self.done_t: list[float] = []
        self.queue: deque[int] = deque()
        self.free = config.replicas
        self.busy_s = 0.0
        self.batch_sizes: list[int] = []
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
            seconds = self.service.draw(len(batch), self.rng)
            if now == oldest:  # it found the replica idle
                seconds += self.config.idle_start_s
            for request in batch:
                self.start_t[request] = now
            self.free -= 1
            self.busy_s += seconds
            self.batch_sizes.append(len(batch))
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
    """Run the queue at ``rate_per_s`` (open loop) or at ``config.concurrency`` (closed) until it drains."""
    closed = config.arrivals == "closed"
    if not closed and not (rate_per_s is not None and rate_per_s > 0 and math.isfinite(rate_per_s)):
        raise ValueError(f"an open-loop simulation needs a rate > 0, got {rate_per_s}")
    arrival = None if closed else _arrival_times(config, float(rate_per_s or 1.0))
    if arrival is not None and config.replicas == 1 and min(config.max_batch, service.max_batch) == 1:
        return _single_server(service, config, arrival, rate_per_s)
    return simulate_events(service, config, rate_per_s, arrival)


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
    if config.arrivals != "closed" and config.replicas == 1 and min(config.max_batch, service.max_batch) == 1:
        return _single_server(service, config, times, rate)
    return simulate_events(service, replace(config, arrivals="constant"), rate, times)


def _arrival_times(config: QueueConfig, rate_per_s: float) -> list[float]:
    times = np.cumsum(unit_gaps(config.max_requests, config.arrivals, config.seed)) / rate_per_s
    arrival = times[times <= config.horizon_s].tolist()
    if not arrival:
        raise ValueError(f"no request arrives within horizon_s={config.horizon_s:g} at {rate_per_s:g}/s")
    return arrival


def simulate_events(
    service: ServiceTimes,
    config: QueueConfig,
    rate_per_s: float | None = None,
    arrival_s: Sequence[float] | None = None,
) -> LoadPoint:
    """The general event loop (:func:`simulate` takes a faster equivalent for one replica without batching)."""
    closed = config.arrivals == "closed"
    run = _Run(service, config)
    if closed:
        for _ in range(min(config.concurrency, config.max_requests)):
            run.push(0.0, _ARRIVE)
    else:
        for t in arrival_s if arrival_s is not None else _arrival_times(config, float(rate_per_s or 1.0)):
            run.push(t, _ARRIVE)
    issued = len(run.events)
    while run.events:
        now, _, kind, payload = heapq.heappop(run.events)
        if kind == _ARRIVE:
            run.arrive(now)
        elif kind == _DONE:
            returned = run.finish(now, payload)
            if closed:  # each client sends its next request as soon as this one returns
                for _ in range(returned):
                    if issued < config.max_requests and now < config.horizon_s:
                        run.push(now, _ARRIVE)
                        issued += 1
        run.dispatch(now)
    return _summarise(run, rate_per_s)


def _single_server(
    service: ServiceTimes, config: QueueConfig, arrival: list[float], rate_per_s: float | None
) -> LoadPoint:
    """One replica without batching, open loop: Lindley's recursion, the same queue without the event heap.

    ``start[n] = max(arrival[n], done[n - 1])``: some forty times faster, for the many runs of a max-rate search.
    Service draws follow the same seeded sequence as the event loop's, so both give the same numbers.
    """
    rng = np.random.default_rng([config.seed, 2])
    fixed = None if service.has_samples(1) else service.seconds(1)
    start, done = [0.0] * len(arrival), [0.0] * len(arrival)
    free_at = busy = 0.0
    for n, t in enumerate(arrival):
        s = fixed if fixed is not None else service.draw(1, rng)
        begin = t if t > free_at else free_at
        if begin == t:  # it found the server idle
            s += config.idle_start_s
        free_at = begin + s
        start[n], done[n] = begin, free_at
        busy += s
    return _summarise_times(arrival, start, done, busy, [1], config, rate_per_s)


def _summarise(run: _Run, rate_per_s: float | None) -> LoadPoint:
    return _summarise_times(run.arrival_t, run.start_t, run.done_t, run.busy_s, run.batch_sizes, run.config, rate_per_s)


def _summarise_times(
    arrival_t: list[float],
    start_t: list[float],
    done_t: list[float],
    busy_s: float,
    batch_sizes: list[int],
    config: QueueConfig,
    rate_per_s: float | None,
) -> LoadPoint:
    arrive = np.asarray(arrival_t)
    latency = np.asarray(done_t) - arrive + config.overhead_s
    wait = np.asarray(start_t) - arrive
    span = float(np.max(done_t) - np.min(arrive))
    p50, p90, p99 = (float(v) for v in np.percentile(latency, [50, 90, 99]))
    return LoadPoint(
        offered_rate_per_s=None if config.arrivals == "closed" else rate_per_s,
        concurrency=config.concurrency if config.arrivals == "closed" else None,
        replicas=config.replicas,
        completed=len(arrive),
        throughput_per_s=len(arrive) / span if span > 0 else math.inf,
        p50_s=p50,
        p90_s=p90,
        p99_s=p99,
        max_s=float(latency.max()),
        mean_s=float(latency.mean()),
        mean_wait_s=float(wait.mean()),
        p99_wait_s=float(np.percentile(wait, 99)),
        mean_batch=float(np.mean(batch_sizes)),
        utilisation=min(1.0, busy_s / (config.replicas * span)) if span > 0 else 1.0,
    )


__all__ = [
    "ARRIVALS",
    "DEFAULT_REQUESTS",
    "Arrivals",
    "LoadPoint",
    "QueueConfig",
    "replay",
    "simulate",
    "simulate_events",
    "unit_gaps",
]

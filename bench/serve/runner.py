"""A serve sweep: for each serving configuration, start its server, warm it up, drive every load point,
search the max rate at the SLO, and append each record the moment it exists.

One process writes the serving results file (:class:`~bench.results.ResultsLock`). The server is stopped by
its PID (process group) at the end of its configuration, on a failure and on a signal; the client threads of a
point are joined before the next. A server that does not start, or dies mid-load, is a failed record with its
reason, and the points already written stay. Signals follow the isolated sweep (:mod:`bench.measure.interrupts`):
the first Ctrl-C finishes the current load point, a second one, SIGTERM or SIGHUP kill the server at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from bench import __version__
from bench.measure.interrupts import SweepGuard
from bench.prompts import load_prompt_set
from bench.results import ResultsLock, utc_now_iso
from bench.results.serving import ServeRecord, SloRecord, dump_serve_record
from bench.results.store import append_line
from bench.scenario.serve import ServeSpec
from bench.serve.clients import GradioTarget, OpenAITarget, Outcome, Target
from bench.serve.engine import GenRequest, ServerConfig
from bench.serve.load import LoadResult, arrival_offsets, run_closed_loop, run_open_loop
from bench.serve.openai_wire import MissingKey, endpoint_auth
from bench.serve.process import ServerFailure, ServerProcess
from bench.serve.records import PointMeta, PriceFn, failed_point_record, load_point_record, point_line, serve_key
from bench.serve.slo_search import capped, search, slo_record
from bench.serve.verdicts import capacity_per_s
from bench.serve.workdirs import serve_workdir
from bench.spec import RunSpec

T = TypeVar("T")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ServePlan:
    """One serving configuration: the workload (batch size = the server's max batch) and how to load it."""

    spec: RunSpec
    serve: ServeSpec


@dataclass
class ServeOutcome:
    results_path: Path
    points: list[ServeRecord] = field(default_factory=list)
    slos: list[SloRecord] = field(default_factory=list)
    interrupted: bool = False
    exit_code: int = 0

    @property
    def failed(self) -> list[ServeRecord]:
        return [p for p in self.points if p.status == "failed"]


def _bounded(make: Callable[[], T], timeout_s: float, stop: Callable[[], bool]) -> T:
    """``make()`` within ``timeout_s`` as a whole, or TimeoutError; given up at once when ``stop()`` says so.

    ``gradio_client.Client`` reads the endpoint's API description when it is made, bounded only per read by its
    timeout: an endpoint that answers a byte at a time would hold it for good. It runs in a daemon thread that is
    left behind when it outlives the bound (it ends with the process); the load point is recorded as failed.
    """
    box: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            box.append(make())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run, name="kbench-client-connect", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while thread.is_alive() and time.monotonic() < deadline and not stop():
        thread.join(0.25)
    if error:
        raise error[0]
    if not box:
        raise TimeoutError(f"the endpoint's API was not read within {timeout_s:g} s (request_timeout_s)")
    return box[0]


def _requests(spec: RunSpec, count: int) -> list[GenRequest]:
    """The prompts of the run's set in turn, every other input the run's own (the same work per request)."""
    prompts = load_prompt_set(spec.language, spec.prompt_set)
    common = {
        "negative_prompt": spec.negative_prompt,
        "steps": spec.steps,
        "guidance_scale": spec.guidance_scale,
        "seed": spec.seed,
        "width": spec.width,
        "height": spec.height,
    }
    return [GenRequest(prompt=prompts[i % len(prompts)], **common) for i in range(count)]


class _Session:
    """One configuration's server (or given endpoint), client and writer."""

    def __init__(self, plan: ServePlan, out: Path, guard: SweepGuard, workdir: Path, progress: Progress) -> None:
        self.plan, self.out, self.guard, self.workdir, self.say = plan, out, guard, workdir, progress
        self.server: ServerProcess | None = None
        self.target: Target | None = None
        self.env: dict[str, object] = {}
        self.warnings: list[str] = []
        self.gone: str | None = None
        self.calls: list[tuple[int, float]] = []  # (batch, service s) of every request served with its timing

    def server_gone(self) -> str | None:
        if self.gone is None and self.server is not None and (reason := self.server.exit_reason()):
            self.gone = f"the server died mid-load: {reason}"
        return self.gone

    def capacity(self) -> float | None:
        """The server's measured capacity (requests/s) from what it has served so far (warmup included)."""
        return capacity_per_s(self.calls, self.plan.spec.batch_size)

    def _served(self, outcomes: list[Outcome]) -> None:
        self.calls.extend((o.served.batch, o.served.finished_s - o.served.started_s) for o in outcomes if o.served)

    def open(self) -> None:
        plan, serve = self.plan, self.plan.serve
        try:
            auth = endpoint_auth(serve)
        except MissingKey as exc:
            raise ServerFailure(str(exc)) from None
        if serve.server == "url":
            url, api = serve.target_url or "", serve.api or "openai"
        else:
            config = ServerConfig(
                spec=plan.spec, max_batch=plan.spec.batch_size, batch_window_s=serve.batch_window_s or 0.0
            )
            self.server = ServerProcess(serve.server, config, self.workdir)
            self.server.start()
            self.guard.child = self.server.proc  # a second Ctrl-C or SIGTERM kills the server at once
            took = self.server.wait_healthy(serve.startup_timeout_s, lambda: self.guard.abort)
            self.say(f"server {serve.server} pid {self.server.pid} healthy at {self.server.url} in {took:.1f} s")
            url, api = self.server.url, serve.server
        workers = max([*(serve.concurrency or []), serve.max_requests, 1])
        try:
            if api == "gradio":
                self.target = _bounded(
                    lambda: GradioTarget(
                        url, serve.request_timeout_s, self.workdir, workers, same_clock=serve.is_local_target, auth=auth
                    ),
                    serve.request_timeout_s,
                    lambda: self.guard.abort,
                )
            else:
                self.target = OpenAITarget(
                    url, serve.request_timeout_s, auth=auth, extension=serve.extension_fields, extra=serve.extra_fields
                )
        except TimeoutError as exc:
            raise ServerFailure(f"client could not connect to {url}: {exc}") from None
        except Exception as exc:  # the client could not read the endpoint's API
            why = auth.redact(f"{type(exc).__name__}: {exc}")
            raise ServerFailure(f"client could not connect to {url}: {why}") from None
        self.env = _environment(plan.spec, url, self.server.pid if self.server else None)
        for request in _requests(plan.spec, serve.warmup):
            outcome = self.target.send(request, lambda: self.guard.abort)
            self._served([outcome])
            if outcome.status != "ok":
                self.warnings.append(f"warmup request {outcome.status}: {outcome.error}")

    def point(self, meta: PointMeta, warnings: list[str] | None = None) -> ServeRecord:
        """Run one load point and write its record (``warnings``: this point's own, beside the session's)."""
        serve, target = self.plan.serve, self.target
        if target is None:
            raise ServerFailure("no endpoint to drive")
        if meta.concurrency is not None:
            pool = _requests(self.plan.spec, min(serve.max_requests, 997))
            result: LoadResult = run_closed_loop(
                target,
                lambda i: pool[i % len(pool)],
                meta.concurrency,
                max_requests=serve.max_requests,
                duration_s=serve.duration_s,
                server_gone=self.server_gone,
                interrupted=lambda: self.guard.abort,
            )
        else:
            rate = meta.offered_rate_per_s or 0.0
            result = run_open_loop(
                target,
                _requests(self.plan.spec, serve.max_requests),
                arrival_offsets(serve.arrivals, rate, serve.max_requests, meta.seed),
                duration_s=serve.duration_s,
                timeout_s=serve.request_timeout_s,
                server_gone=self.server_gone,
                interrupted=lambda: self.guard.abort,
            )
        device = None
        if self.server_gone() is None:
            device = target.device(result.started_s, result.finished_s, lambda: self.guard.abort)
        self._served([o for o in result.outcomes if o.status == "ok"])
        record = load_point_record(meta, result, device, self.env, [*self.warnings, *(warnings or [])])
        self.write(record)
        return record

    def write(self, record: ServeRecord | SloRecord) -> None:
        append_line(self.out, dump_serve_record(record))

    def close(self) -> None:
        if self.target is not None:
            with contextlib.suppress(Exception):
                self.target.close()
        if self.server is not None:
            self.server.stop()
            self.guard.child = None


def _environment(spec: RunSpec, url: str, pid: int | None) -> dict[str, object]:
    from bench.measure.env import capture_environment

    try:
        env: dict[str, object] = dict(capture_environment(spec.device if pid else "cpu", spec=spec))
    except Exception as exc:  # environment capture never loses a measurement
        env = {"capture_error": f"{type(exc).__name__}: {exc}"}
    env.update({"kbench_version": __version__, "endpoint": url, "server_pid": pid})
    return env


def _metas(plan: ServePlan) -> list[PointMeta]:
    serve, started = plan.serve, utc_now_iso()
    if serve.concurrency is not None:
        return [
            PointMeta(plan.spec, serve, concurrency=c, seed=serve.seed, started_at=started) for c in serve.concurrency
        ]
    return [
        PointMeta(plan.spec, serve, offered_rate_per_s=r, seed=serve.seed + i, started_at=started)
        for i, r in enumerate(sorted(set(serve.rates or [])))
    ]


def run_serve(
    plans: Sequence[ServePlan],
    results_path: str | Path,
    *,
    price: PriceFn | None = None,
    progress: Progress | None = None,
) -> ServeOutcome:
    """Run every serving configuration in turn; each record is appended as soon as it exists."""
    out = Path(results_path)
    outcome = ServeOutcome(results_path=out)
    say = progress or (lambda text: None)
    with serve_workdir() as workdir, ResultsLock(out), SweepGuard() as guard:
        for plan in plans:
            if guard.stopping:
                break
            _run_plan(plan, out, guard, workdir, say, outcome, price)
        outcome.interrupted = guard.stopping
        outcome.exit_code = guard.exit_code() if guard.stopping else 0
    return outcome


def _run_plan(
    plan: ServePlan,
    out: Path,
    guard: SweepGuard,
    workdir: Path,
    say: Progress,
    outcome: ServeOutcome,
    price: PriceFn | None,
) -> None:
    session = _Session(plan, out, guard, workdir, say)
    metas = _metas(plan)
    say(f"serve {serve_key(plan.spec, plan.serve)}: {len(metas)} load point(s)")
    try:
        try:
            session.open()
        except ServerFailure as exc:
            for meta in metas:
                record = failed_point_record(meta, str(exc), session.env)
                session.write(record)
                outcome.points.append(record)
            return
        results: dict[float, bool] = {}
        tried: set[float] = set()
        ran = False
        for index, meta in enumerate(metas):
            if guard.stopping:
                break
            if session.gone:  # the points it would have run are failures too, with the reason
                for left in metas[index:]:
                    record = failed_point_record(left, f"not run: {session.gone}", session.env)
                    session.write(record)
                    outcome.points.append(record)
                break
            meta, warning = _offer(meta, session.capacity())
            if warning:
                say(f"  {warning}")
            if meta.offered_rate_per_s is not None:
                tried.add(meta.offered_rate_per_s)
            record = session.point(meta, [warning] if warning else None)
            outcome.points.append(record)
            ran = ran or record.status == "ok"
            say(point_line(record))
            if (rate := record.offered_rate_per_s) is not None and record.slo_ok is not None and record.status == "ok":
                results[rate] = results.get(rate, True) and record.slo_ok  # two rates capped alike: one miss is a miss
        serve = plan.serve
        if serve.slo_p99_s is None or serve.concurrency is not None or not (ran or guard.stopping):
            return
        probes, status, unfinished = search(plan.spec, serve, session, results, tried)
        outcome.points.extend(probes)
        slo = slo_record(plan.spec, serve, results, session.env, price, status, unfinished)
        session.write(slo)
        outcome.slos.append(slo)
    finally:
        session.close()


def _offer(meta: PointMeta, capacity: float | None) -> tuple[PointMeta, str | None]:
    """The load point as offered: an open-loop rate above the measured capacity capped at it (with why)."""
    if meta.offered_rate_per_s is None:
        return meta, None
    rate, warning = capped(meta.offered_rate_per_s, capacity)
    asked = meta.offered_rate_per_s if warning else None
    return replace(meta, offered_rate_per_s=rate, asked_rate_per_s=asked, capacity_per_s=capacity), warning


__all__ = ["ServeOutcome", "ServePlan", "run_serve"]

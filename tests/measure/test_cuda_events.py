"""The CUDA timing path without a GPU: events at every boundary, one synchronisation per call.

The event source is the one small interface the clock uses (:class:`bench.measure.timing.CudaEvents`); here a
fake GPU stream stands behind it that runs behind the host: each queued event completes 20 ms after the one
before it (or when the host recorded it, if later), and ``synchronize`` blocks until the queue is done, as a
real device does. The spans must then come from the events (GPU completion times), not from when the host
reached a boundary.
"""

from __future__ import annotations

import time

import pytest
import torch

from bench.measure.timing import Clock, StageRecorder, TorchCudaEvents
from bench.models.build import build_pipelines
from bench.workloads import StageHooks, run_workload
from tests.factories import tiny_spec

WORK_NS = 20_000_000  # GPU work between two consecutive events of the fake stream


class LaggingStream:
    """A stream whose events complete ``WORK_NS`` apart; ``synchronize`` waits for the last and is counted."""

    def __init__(self) -> None:
        self.synchronized = 0
        self.pending: list[list[int]] = []
        self.last_ns = 0

    def record(self) -> list[int]:
        self.last_ns = max(time.perf_counter_ns(), self.last_ns + WORK_NS)
        event = [self.last_ns, 0]  # [completion time, completed?]
        self.pending.append(event)
        return event

    def elapsed_ms(self, start: list[int], end: list[int]) -> float:
        if not (start[1] and end[1]):
            raise RuntimeError("elapsed_time on an event that has not completed (no synchronisation)")
        return (end[0] - start[0]) / 1e6

    def synchronize(self) -> None:
        self.synchronized += 1
        time.sleep(max(0, self.last_ns - time.perf_counter_ns()) / 1e9)  # block until the queue is done
        for event in self.pending:
            event[1] = 1
        self.pending.clear()


def _timed_call(recorder: StageRecorder, pipes, spec, hooks):
    start = recorder.begin_call()
    run_workload(pipes, spec, torch.Generator().manual_seed(0), hooks)
    return recorder.end_call(start)


def test_one_synchronisation_per_call_and_spans_from_event_times():
    spec = tiny_spec(model="kandinsky-2.2", steps=3)
    pipes = build_pipelines("kandinsky-2.2", "text2img", "tiny", "cpu", "fp32")
    stream = LaggingStream()
    clock = Clock("cuda", events=stream)
    recorder = StageRecorder(clock)
    recorder.install(pipes)
    hooks = StageHooks(on_step_end=recorder.step_end, on_stage=recorder.stage_edge)
    calls = [_timed_call(recorder, pipes, spec, hooks) for _ in range(3)]
    recorder.remove()
    assert stream.synchronized == 3  # one per pipeline call, however many boundaries and steps
    for timing in calls:
        assert set(timing.stage_s) == {"text_encode", "prior", "denoise", "decode"}
        # each step ends one event after the last: at least one unit of GPU work, whatever the host took
        assert len(timing.step_s) == 3 and min(timing.step_s) >= WORK_NS / 1e9 * 0.999
        assert sum(timing.stage_s.values()) <= timing.wall_s
        # every span starts after the call's first event completed: none starts before the GPU origin
        assert min(s.start_ns for s in timing.spans) >= 0


def test_the_events_are_read_only_after_the_synchronisation():
    stream = LaggingStream()
    clock = Clock("cuda", events=stream)
    clock.start()
    mark = clock.mark()
    with pytest.raises(RuntimeError):
        stream.elapsed_ms(clock._origin, mark)  # reading before the sync is what a real event refuses too
    (resolved,) = clock.resolve([mark])
    assert resolved >= clock._origin_ns and clock.synchronisations == 1


def test_cpu_clock_never_synchronises():
    clock = Clock("cpu")
    clock.start()
    marks = [clock.mark(), clock.mark()]
    a, b = clock.resolve(marks)
    assert a <= b and clock.synchronisations == 0 and clock.events is None


def test_torch_exposes_the_cuda_api_the_clock_uses():
    """The real binding's surface exists in every torch build, with or without a GPU."""
    assert callable(torch.cuda.synchronize)
    assert hasattr(torch.cuda.Event, "record") and hasattr(torch.cuda.Event, "elapsed_time")
    events = TorchCudaEvents()
    if not torch.cuda.is_available():
        with pytest.raises((RuntimeError, AssertionError, AttributeError)):
            events.record()  # CPU-only torch: the event cannot be created or recorded

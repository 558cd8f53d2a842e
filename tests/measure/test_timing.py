"""Stage timing on a real tiny pipeline: stages add up to the wall time, one step time per step."""

from __future__ import annotations

import time

import pytest
import torch

from bench.measure.timing import CallTiming, Clock, StageRecorder, _pair_spans
from bench.models.build import build_pipelines
from bench.workloads import StageHooks, run_workload
from tests.factories import tiny_spec


@pytest.mark.parametrize(
    ("model", "stages"),
    [
        ("kandinsky-2.2", {"text_encode", "prior", "denoise", "decode"}),
        ("kandinsky-2.1", {"text_encode", "prior", "denoise", "decode"}),
        ("kandinsky-3", {"text_encode", "denoise", "decode"}),
    ],
)
def test_stages_sum_to_wall_time(model, stages):
    steps = 3
    spec = tiny_spec(model=model, steps=steps)
    pipes = build_pipelines(model, "text2img", "tiny", "cpu", "fp32")
    recorder = StageRecorder(Clock("cpu"))
    recorder.install(pipes)
    hooks = StageHooks(on_step_end=recorder.step_end, on_stage=recorder.stage_edge)
    run_workload(pipes, spec, torch.Generator().manual_seed(0), hooks)  # warm
    timing, outside_s = _timed_call(
        recorder, lambda: run_workload(pipes, spec, torch.Generator().manual_seed(0), hooks)
    )
    assert set(timing.stage_s) == stages
    assert all(v > 0 for v in timing.stage_s.values())
    assert len(timing.step_s) == steps
    assert sum(timing.step_s) == pytest.approx(timing.stage_s["denoise"], rel=1e-6)
    assert 0 <= timing.unaccounted_s < 0.25 * timing.wall_s
    _assert_wall_is_the_call(timing, outside_s)
    recorder.remove()


def _timed_call(recorder: StageRecorder, call) -> tuple[CallTiming, float]:
    """One recorded call, and the seconds an independent clock saw around it."""
    outer = time.perf_counter()
    start = recorder.begin_call()
    call()
    timing = recorder.end_call(start)
    return timing, time.perf_counter() - outer


def _assert_wall_is_the_call(timing: CallTiming, outside_s: float) -> None:
    """The recorded wall time is the call's real duration (an outside clock brackets it), and the stages,
    measured on their own spans, fit inside it."""
    assert 0.75 * outside_s - 0.02 <= timing.wall_s <= outside_s
    assert sum(timing.stage_s.values()) <= timing.wall_s * (1 + 1e-9)
    for span in timing.spans:
        assert span.end_ns >= span.start_ns


def test_time_lands_in_the_stage_that_spent_it():
    """A known delay inside the decoder shows up as decode time, one between the stages as unaccounted time,
    and neither leaks into the other: the split is measured, not derived from the wall time.

    Robust on a busy machine by construction: a sleep is never shorter than asked, so the stage that holds it
    reaches the delay whatever the load, and the other stage, which would hold all of it if it leaked, stays
    below it unless that stage alone were slowed by a whole second (the tiny decoder takes milliseconds)."""
    delay = 1.0
    spec = tiny_spec(model="kandinsky-2.2", steps=2)
    pipes = build_pipelines("kandinsky-2.2", "text2img", "tiny", "cpu", "fp32")
    movq = next(p.components["movq"] for p in pipes.values() if "movq" in p.components)
    decode = movq.decode
    slow = {"decode": False}

    def slow_decode(*args, **kwargs):
        if slow["decode"]:
            time.sleep(delay)
        return decode(*args, **kwargs)

    object.__setattr__(movq, "decode", slow_decode)  # under the recorder's own wrapper
    recorder = StageRecorder(Clock("cpu"))
    recorder.install(pipes)
    hooks = StageHooks(on_step_end=recorder.step_end, on_stage=recorder.stage_edge)

    def call(pause_before: float = 0.0) -> None:
        time.sleep(pause_before)  # inside the call's window, outside every stage
        run_workload(pipes, spec, torch.Generator().manual_seed(0), hooks)

    call()  # warm
    slow["decode"] = True
    slowed, outside_s = _timed_call(recorder, call)
    slow["decode"] = False
    paused, _ = _timed_call(recorder, lambda: call(delay))
    recorder.remove()
    assert slowed.stage_s["decode"] >= delay
    assert slowed.unaccounted_s < delay
    assert paused.unaccounted_s >= delay
    assert paused.stage_s["decode"] < delay
    assert delay <= slowed.wall_s <= outside_s  # the wall time holds the call, and an outside clock holds it
    assert sum(slowed.stage_s.values()) <= slowed.wall_s * (1 + 1e-9)


def test_pair_spans_collapses_nesting():
    events = [
        ("a", "start", 0),
        ("a", "start", 1),
        ("a", "end", 2),
        ("a", "end", 5),
        ("b", "start", 6),
        ("b", "end", 9),
    ]
    spans = _pair_spans(events)
    assert [(s.stage, s.start_ns, s.end_ns) for s in spans] == [("a", 0, 5), ("b", 6, 9)]


def test_sdxl_refiner_stages_sum_to_wall_time():
    steps = 5  # 4 on the base, 1 on the refiner
    spec = tiny_spec(model="sdxl-base", steps=steps, refiner=True)
    pipes = build_pipelines("sdxl-base", "text2img", "tiny", "cpu", "fp32", refiner=True)
    recorder = StageRecorder(Clock("cpu"))
    recorder.install(pipes)  # the shared text_encoder_2 and vae get nested hooks, collapsed into one span
    hooks = StageHooks(on_step_end=recorder.step_end, on_stage=recorder.stage_edge)
    run_workload(pipes, spec, torch.Generator().manual_seed(0), hooks)  # warm
    timing, outside_s = _timed_call(
        recorder, lambda: run_workload(pipes, spec, torch.Generator().manual_seed(0), hooks)
    )
    assert set(timing.stage_s) == {"text_encode", "denoise", "decode"}
    assert len(timing.step_s) == steps
    # the refiner encodes its prompt between the base's last step and its own first: that time is
    # text_encode, inside the span of the steps, so the steps add up to denoise plus that encoding
    assert sum(timing.step_s) >= timing.stage_s["denoise"]
    _assert_wall_is_the_call(timing, outside_s)
    assert 0 <= timing.unaccounted_s < 0.25 * timing.wall_s
    recorder.remove()

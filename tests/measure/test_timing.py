"""Stage timing on a real tiny pipeline: stages add up to the wall time, one step time per step."""

from __future__ import annotations

import pytest
import torch

from bench.measure.timing import Clock, StageRecorder, _pair_spans
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
    start = recorder.begin_call()
    run_workload(pipes, spec, torch.Generator().manual_seed(0), hooks)
    timing = recorder.end_call(start)
    assert set(timing.stage_s) == stages
    assert all(v > 0 for v in timing.stage_s.values())
    assert len(timing.step_s) == steps
    assert sum(timing.step_s) == pytest.approx(timing.stage_s["denoise"], rel=1e-6)
    assert 0 <= timing.unaccounted_s < 0.25 * timing.wall_s
    assert sum(timing.stage_s.values()) + timing.unaccounted_s == pytest.approx(timing.wall_s)
    recorder.remove()


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
    start = recorder.begin_call()
    run_workload(pipes, spec, torch.Generator().manual_seed(0), hooks)
    timing = recorder.end_call(start)
    assert set(timing.stage_s) == {"text_encode", "denoise", "decode"}
    assert len(timing.step_s) == steps
    # the refiner encodes its prompt between the base's last step and its own first: that time is
    # text_encode, inside the span of the steps, so the steps add up to denoise plus that encoding
    assert sum(timing.step_s) >= timing.stage_s["denoise"]
    assert sum(timing.stage_s.values()) + timing.unaccounted_s == pytest.approx(timing.wall_s)
    assert 0 <= timing.unaccounted_s < 0.25 * timing.wall_s
    recorder.remove()

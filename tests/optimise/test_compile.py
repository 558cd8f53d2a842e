"""Compilation on the CPU (inductor): the first call is timed apart, frames and recompiles are counted, and the
ranking computes the break-even against the uncompiled cell. One tiny pipeline, 64x64, 1 step."""

from __future__ import annotations

import math
import statistics

import pytest

from bench.cost.catalog import load_catalog
from bench.cost.costs import record_overhead_s
from bench.measure.child import execute
from bench.optimise.ranking import break_even, rank
from bench.spec import Optimisation
from tests.factories import tiny_spec

ONE_STEP = {"model": "flux.1-schnell", "guidance_scale": 0.0, "steps": 1, "warmup": 0, "repeats": 2, "max_repeats": 2}


@pytest.fixture(scope="module")
def compiled_pair():
    plain = execute(tiny_spec(**ONE_STEP))
    compiled = execute(tiny_spec(**ONE_STEP, optimise=Optimisation(compile="default")))
    return plain, compiled


def test_compile_time_is_recorded_apart(compiled_pair):
    _, compiled = compiled_pair
    assert compiled.status == "ok", compiled.reason
    opt = compiled.optimise
    assert opt.graphs_compiled and opt.graphs_compiled >= 1
    assert opt.recompiles == 0
    assert opt.first_call_s == compiled.timing.warmup_call_s[0]  # the compile call, paid like a warmup
    assert len(compiled.timing.warmup_call_s) == 1  # warmup 0 + the compile call
    assert opt.first_call_s > max(compiled.timing.call_s)  # compiling made the first call the slowest
    assert opt.compile_s == pytest.approx(opt.first_call_s - statistics.median(compiled.timing.call_s))
    assert any("compile(" in a for a in opt.applied)


def test_break_even_follows_the_overheads(compiled_pair):
    plain, compiled = compiled_pair
    value = break_even(compiled, plain)
    s_c, s_u = compiled.summary.median_s_per_image, plain.summary.median_s_per_image
    extra = record_overhead_s(compiled) - record_overhead_s(plain)
    expected = (extra / (s_u - s_c) if s_u > s_c else math.inf) if extra > 0 else (0.0 if s_c <= s_u else math.inf)
    assert value == pytest.approx(expected)
    rows = {r.setting: r for r in rank([plain, compiled], load_catalog())}
    assert rows["compile-default"].break_even_images == pytest.approx(expected)
    assert rows["compile-default"].compile_s == compiled.optimise.compile_s
    assert rows["baseline"].break_even_images is None


def test_break_even_by_hand(compiled_pair):
    plain, _ = compiled_pair
    timing = plain.timing
    slow = plain.model_copy(update={"summary": plain.summary.model_copy(update={"median_s_per_image": 2.0})})
    fast_timing = timing.model_copy(update={"warmup_call_s": [*timing.warmup_call_s, 30.0]})
    fast = plain.model_copy(
        update={"timing": fast_timing, "summary": plain.summary.model_copy(update={"median_s_per_image": 1.5})}
    )
    assert break_even(fast, slow) == pytest.approx(30.0 / 0.5)  # 30 s more start-up, 0.5 s saved per image
    assert break_even(slow, fast) == math.inf  # slower and more start-up: never

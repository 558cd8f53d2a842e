"""Full-size ``random`` models end to end on the CPU (``nox -s full``; about 10 GB of RAM and a few minutes).

Excluded from the default suite by the ``full`` marker. The record's wall time and peak RSS are printed for
docs/benchmarks.md.
"""

from __future__ import annotations

import pytest

from bench.measure.runner import run_in_child
from bench.spec import RunSpec

pytestmark = pytest.mark.full


def test_full_size_kandinsky_22_runs_in_bf16_on_the_cpu():
    spec = RunSpec(
        scenario="full-size-cpu",
        model="kandinsky-2.2",
        task="text2img",
        weights="random",
        width=256,
        height=256,
        steps=2,
        prior_steps=2,
        guidance_scale=4.0,
        dtype="bf16",
        device="cpu",
        warmup=0,
        repeats=1,
        max_repeats=1,
        timeout_s=1800,
    )
    record = run_in_child(spec, timeout_s=spec.timeout_s)
    assert record.status == "ok", record.reason
    assert record.timing is not None and record.summary is not None
    print(
        f"\nfull-size kandinsky-2.2 bf16 256x256 2 steps on CPU: load {record.timing.load_s:.1f} s, "
        f"call {record.timing.call_s[0]:.1f} s, peak RSS {record.memory.peak_rss_mb:.0f} MB"
    )

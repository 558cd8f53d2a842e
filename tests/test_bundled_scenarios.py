"""Every bundled scenario runs clean.

The packaged default of ``kbench run`` runs end to end through the real CLI (child processes, results,
report); ``scenarios/smoke.yaml`` runs each of its runs through the child's own ``execute`` in this process,
which is the same measurement without the cost of a fresh interpreter per run (the sweep's process handling
is tested on its own in ``tests/measure``). The GPU scenarios (``scenarios/guide.yaml``, ``scenarios/ci.yaml``)
are validated and expanded, and their tiny-weights CPU equivalents (the same models, tasks, batches, images per
prompt, memory options, languages and negative prompts at 64x64 and 2 steps, one of each distinct call) are
measured in this process by the child's own ``execute``: CPU offload is ``skipped`` with its reason, as a sweep
records it.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.measure.child import execute
from bench.measure.runner import static_skip_reason
from bench.models.registry import call_plan
from bench.results import RunRecord
from bench.scenario import load_scenario_file
from bench.spec import Outpaint, RunSpec, Workload
from tests.conftest import REPO

SCENARIOS = REPO / "scenarios"
GPU_FILES = ("guide.yaml", "ci.yaml")
OFFLOAD = ("model_cpu_offload", "sequential_cpu_offload")
# The GPU files' matrices, counted by hand from the YAML: runs, then the values each option takes.
GPU_MATRICES: dict[str, dict[str, Any]] = {
    "guide.yaml": {
        # t2i-k22 3, t2i-k3 2, k3-offload 2, k22-memory 3, multilingual 9, mixing 1, edit 3, outpaint 1, batch 3
        "runs": 27,
        "model": {"kandinsky-2.1", "kandinsky-2.2", "kandinsky-3"},
        "task": {"text2img", "img2img", "inpaint", "outpaint", "mix"},
        "batch_size": {1, 4},
        "images_per_prompt": {1, 2},
        "memory": {"none", "model_cpu_offload", "sequential_cpu_offload", "attention_slicing"},
        "language": {"en", "ru", "zh", "de"},
        "negative_prompt": {None},
    },
    "ci.yaml": {
        "runs": 2,
        "model": {"kandinsky-2.2", "kandinsky-3"},
        "task": {"text2img"},
        "batch_size": {1},
        "images_per_prompt": {1},
        "memory": {"none"},
        "language": {"en"},
        "negative_prompt": {None},
    },
}


def _not_clean(records: list[RunRecord]) -> dict[str, tuple[str, str | None]]:
    """Runs that are neither ``ok`` nor ``skipped`` with a reason (the device cannot apply an option)."""
    return {
        r.run_key: (r.status, r.reason)
        for r in records
        if not (r.status == "ok" or (r.status == "skipped" and r.reason))
    }


@pytest.mark.parametrize("name", GPU_FILES)
def test_gpu_scenario_files_validate_and_expand_to_their_matrix(name):
    runs = load_scenario_file(SCENARIOS / name)
    expected = GPU_MATRICES[name]
    assert len(runs) == expected["runs"]
    assert len({r.run_key for r in runs}) == len(runs)
    assert {(r.weights, r.device, r.dtype) for r in runs} == {("random", "cuda", "fp16")}
    for option, values in expected.items():
        if option != "runs":
            assert {getattr(r, option) for r in runs} == values, option
    for run in runs:  # the call plan (read by the run path and the cost code) makes each at its own size
        assert call_plan(Workload.from_spec(run)).size == run.canvas
    outpaint = [run for run in runs if run.task == "outpaint"]
    if name == "guide.yaml":  # the guide's outpainting: a 768x768 source extended to a 1024x1024 canvas
        assert [(run.resolution, run.canvas) for run in outpaint] == [("768x768", (1024, 1024))]


def tiny_equivalent(spec: RunSpec) -> RunSpec:
    """The run on tiny weights on the CPU: the same call (task, batch, options, prompts) at 64x64 and 2 steps;
    outpainting keeps the sides it extends, by 16 pixels each."""
    outpaint = None
    if spec.outpaint is not None:
        margins = [16 if margin else 0 for margin in spec.outpaint.margins]
        outpaint = Outpaint.around(64, 64, *margins, overlap=min(spec.outpaint.overlap, 8)).model_dump()
    return RunSpec.model_validate(
        {
            **spec.model_dump(),
            "weights": "tiny",
            "hub": {},
            "device": "cpu",
            "dtype": "fp32",
            "width": 64,
            "height": 64,
            "steps": 2,
            "prior_steps": 2 if spec.prior_steps else None,
            "warmup": 0,
            "repeats": 1,
            "max_repeats": 1,
            "timeout_s": 300.0,
            "cpu_threads": 1,  # tiny pipelines are small ops: one thread is quicker than a pool
            "outpaint": outpaint,
        }
    )


def _call_key(spec: RunSpec) -> tuple[Any, ...]:
    """What changes the pipeline call: the workload, plus the prompts and the inputs it is given."""
    return Workload.from_spec(spec), spec.language, spec.prompt_set, spec.negative_prompt, spec.mix_weights, spec.seed


def tiny_runs(names: tuple[str, ...] = GPU_FILES) -> list[RunSpec]:
    """The distinct tiny CPU equivalents of the GPU files' runs, in file order."""
    distinct: dict[tuple[Any, ...], RunSpec] = {}
    for name in names:
        for run in load_scenario_file(SCENARIOS / name):
            tiny = tiny_equivalent(run)
            distinct.setdefault(_call_key(tiny), tiny)
    return list(distinct.values())


TINY_RUNS = tiny_runs()


def test_the_tiny_equivalents_keep_the_gpu_matrix():
    gpu = [run for name in GPU_FILES for run in load_scenario_file(SCENARIOS / name)]
    for option in ("model", "task", "batch_size", "images_per_prompt", "memory", "language", "negative_prompt"):
        assert {getattr(r, option) for r in TINY_RUNS} == {getattr(r, option) for r in gpu}, option
    # resolutions and steps collapse: 29 runs, 24 distinct calls (the guide's 5 sizes of plain text-to-image
    # become 2, one per model, and ci.yaml's two runs are those same calls)
    assert len(TINY_RUNS) == 24


@pytest.fixture(scope="module")
def restore_torch_threads():
    """``execute`` pins torch's threads to the run's ``cpu_threads``; give the rest of the session its own back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("restore_torch_threads")
@pytest.mark.parametrize("spec", TINY_RUNS, ids=[f"{s.scenario}-{s.run_key}" for s in TINY_RUNS])
def test_tiny_equivalent_of_a_gpu_run_is_clean(spec):
    record = execute(spec)
    if spec.memory in OFFLOAD:  # on a CPU, as a sweep records it before starting a child: skipped, with why
        assert record.status == "skipped" and record.reason == static_skip_reason(spec)
        assert record.reason is not None and spec.memory in record.reason and "device cpu" in record.reason
        return
    assert (record.status, record.reason) == ("ok", None)
    assert record.timing is not None and len(record.timing.call_s) == 1
    assert record.summary is not None and record.summary.median_s_per_image > 0


SMOKE = load_scenario_file(SCENARIOS / "smoke.yaml")


@pytest.mark.usefixtures("restore_torch_threads")
@pytest.mark.parametrize("spec", SMOKE, ids=[s.run_key for s in SMOKE])
def test_smoke_scenario_run_is_clean(spec):
    record = execute(spec.model_copy(update={"cpu_threads": 1}))
    assert (record.status, record.reason) == ("ok", None)
    assert record.timing is not None and len(record.timing.call_s) == spec.repeats

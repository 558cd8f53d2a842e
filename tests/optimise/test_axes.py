"""Scenario axes: matrix and one-at-a-time expansion, exclusion, run keys, and one-line errors."""

from __future__ import annotations

import pytest

from bench.errors import ScenarioError
from bench.scenario import load_scenarios
from bench.scenario.expand import matrix_size
from bench.spec import Optimisation
from tests.factories import tiny_spec

HEAD = """
name: t
defaults: {weights: tiny, device: cpu, dtypes: [fp32], resolutions: [64x64], steps: 2}
scenarios:
  - name: a
    models: [flux.1-schnell]
"""


def test_default_run_key_is_unchanged_and_settings_append_one_part():
    assert tiny_spec().run_key == "kandinsky-2.2|text2img|64x64|s2|b1x1|fp32|none|tiny|cpu|en"
    tuned = tiny_spec(optimise=Optimisation(attention="sdpa-math", cache="first_block", cache_threshold=0.2))
    assert tuned.run_key == tiny_spec().run_key + "|opt=attention-sdpa-math,cache-first_block@0.2"
    # the judgement threshold is not part of what runs
    assert tiny_spec(optimise=Optimisation(quality_threshold_db=40)).run_key == tiny_spec().run_key


def test_matrix_expands_with_the_baseline_first_and_exclude_drops_cells(write_yaml):
    path = write_yaml(
        HEAD
        + """    optimise:
      attention: [sdpa-math, sdpa]
      channels_last: [false, true]
    exclude:
      - {attention: sdpa-math, channels_last: true}
"""
    )
    keys = [s.run_key.rpartition("|")[2] for s in load_scenarios([path])]
    assert keys == ["en", "opt=attention-sdpa-math", "opt=channels_last"]


def test_one_at_a_time_runs_each_value_alone(write_yaml):
    path = write_yaml(
        HEAD
        + """    optimise:
      mode: one-at-a-time
      attention: [sdpa, sdpa-math, sliced]
      compile: [none, default]
      quantization: [none, int8-weight-only]
"""
    )
    specs = load_scenarios([path])
    assert [s.optimise.non_default() for s in specs] == [
        {},
        {"attention": "sdpa-math"},
        {"attention": "sliced"},
        {"compile": "default"},
        {"quantization": "int8-weight-only"},
    ]


def test_matrix_size_counts_cells(write_yaml):
    import yaml

    from bench.scenario.schema import ScenarioSpec

    raw = yaml.safe_load(HEAD)["scenarios"][0]
    spec = ScenarioSpec(
        **raw, weights="tiny", device="cpu", optimise={"attention": ["sdpa", "sdpa-math"], "tf32": [False, True]}
    )
    assert matrix_size(spec) == 4


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ("attention: [flash3]", "optimise.attention"),
        ("cache_threshold: 2.0", "optimise.cache_threshold"),
        ("turbo: true", "optimise.turbo"),
    ],
)
def test_bad_values_are_one_line_errors(write_yaml, block, needle):
    path = write_yaml(HEAD + f"    optimise:\n      {block}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenarios([path])
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_exclude_values_are_checked(write_yaml):
    path = write_yaml(HEAD + "    optimise: {attention: [sdpa, sdpa-math]}\n    exclude:\n      - {attention: fast}\n")
    with pytest.raises(ScenarioError, match="exclude"):
        load_scenarios([path])


def test_the_gpu_scenario_sweeps_the_guide_workloads_one_axis_at_a_time():
    from tests.conftest import REPO

    specs = load_scenarios([REPO / "scenarios" / "optimise.yaml"])
    # per workload: baseline + 5 attention + 3 compile + 4 booleans + first_block + 2 quantizations = 16;
    # 3 Kandinsky 2.2 sizes and 2 Kandinsky 3 sizes, plus the MoVQ decoder compiled at 1024
    assert len(specs) == 5 * 16 + 1
    workloads = {(s.model, s.resolution) for s in specs}
    assert workloads == {
        ("kandinsky-2.2", "512x512"),
        ("kandinsky-2.2", "768x768"),
        ("kandinsky-2.2", "1024x1024"),
        ("kandinsky-3", "512x512"),
        ("kandinsky-3", "1024x1024"),
    }
    assert {(s.steps, s.dtype, s.device, s.images_per_call) for s in specs} == {(50, "fp16", "cuda", 1)}
    assert all(len(s.optimise.non_default()) <= 2 for s in specs)  # one change (a cache carries its parameter)
    first = {}
    for s in specs:
        first.setdefault((s.model, s.resolution), s)
    assert all(not s.optimise.key_part for s in first.values())  # each workload's baseline runs first
    assert len(load_scenarios([REPO / "scenarios" / "optimise-cpu.yaml"])) == 21

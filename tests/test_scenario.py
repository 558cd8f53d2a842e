from __future__ import annotations

import pytest

from bench.errors import ScenarioError
from bench.scenario import load_scenario_file, load_scenarios
from bench.spec import parse_resolution
from tests.conftest import REPO, run_kbench

BASE = """\
scenarios:
  - name: a
    models: [kandinsky-2.2]
    weights: tiny
    device: cpu
"""


def test_matrix_expansion_and_exclude(write_yaml):
    path = write_yaml(
        """\
        defaults:
          weights: tiny
          device: cpu
        scenarios:
          - name: m
            models: [kandinsky-2.2, kandinsky-3]
            tasks: [text2img, img2img]
            resolutions: [512x512, 768x768]
            steps: [10, 20]
            dtypes: [fp16, bf16]
            exclude:
              - {model: kandinsky-3, resolution: 512x512}
              - {dtype: bf16, steps: 20}
        """
    )
    runs = load_scenario_file(path)
    # 2 models x 2 tasks x 2 res x 2 steps x 2 dtypes = 32; minus k3@512 (8) ; minus bf16&20 among the rest (6)
    assert len(runs) == 32 - 8 - 6
    keys = {r.run_key for r in runs}
    assert len(keys) == len(runs)
    assert not any(r.model == "kandinsky-3" and r.width == 512 for r in runs)
    assert not any(r.dtype == "bf16" and r.steps == 20 for r in runs)
    assert all(r.guidance_scale == (3.0 if r.model == "kandinsky-3" else 4.0) for r in runs)


def test_defaults_from_registry(write_yaml):
    runs = load_scenario_file(write_yaml(BASE))
    assert len(runs) == 1
    r = runs[0]
    assert (r.width, r.height, r.steps, r.prior_steps) == (512, 512, 100, 25)
    assert r.run_key == "kandinsky-2.2|text2img|512x512|s100|b1x1|fp16|none|tiny|cpu|en"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            "    models: [kandinsky-9]\n",
            "unknown model 'kandinsky-9'; known: flux.1-dev, flux.1-schnell, kandinsky-2.1, kandinsky-2.2, "
            "kandinsky-3, kandinsky-5-lite, sdxl-base",
        ),
        (
            "    tasks: [inpaint]\n    models: [kandinsky-3]\n",
            "kandinsky-3 does not support 'inpaint'; it supports text2img, img2img",
        ),
        ("    resolutions: [1000x1000]\n", "multiples of 64"),
        ("    resolutions: [banana]\n", "WIDTHxHEIGHT"),
        ("    steps: -3\n", "steps must be between 1 and 1000"),
        ("    steps: 100000\n", "steps must be between 1 and 1000"),
        ("    batch_sizes: [0]\n", "between 1 and 256"),
        ("    dtypes: [fp8]\n", "'fp32', 'fp16' or 'bf16'"),
        ("    memory: [turbo]\n", "model_cpu_offload"),
        ("    stepz: 3\n", "stepz: unknown field"),
        ("    guidance_scale: -1\n", "guidance_scale"),
        ("    device: tpu\n", "device must be cpu, cuda or cuda:N"),
        ("    languages: [fr]\n", "'en', 'ru', 'zh' or 'de'"),
        ("    exclude: [{colour: red}]\n", "exclude[0]: keys must be among"),
        ("    repeats: 5\n    max_repeats: 2\n", "max_repeats (2) must be >= repeats (5)"),
        (
            "    models: [kandinsky-3]\n    refiner: [false, true]\n",
            "refiner: kandinsky-3 has no refiner; true is allowed only for sdxl-base",
        ),
        (
            "    models: [sdxl-base]\n    tasks: [img2img]\n    refiner: true\n",
            "refiner: sdxl-base runs its refiner only for text2img, not 'img2img'",
        ),
        (
            "    models: [sdxl-base]\n    refiner: true\n    steps: 1\n",
            "refiner: needs steps >= 2",
        ),
    ],
)
def test_bad_input_is_one_clear_line(write_yaml, extra, needle):
    given = {line.split(":")[0] for line in extra.splitlines()}  # a key given twice is itself an error
    text = "".join(line for line in BASE.splitlines(keepends=True) if line.split(":")[0] not in given)
    path = write_yaml(text + extra)
    with pytest.raises(ScenarioError) as err:
        load_scenario_file(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    assert needle in message


def test_error_names_line_of_field(write_yaml):
    path = write_yaml(BASE + "    resolutions: [512x512, 1000x1000]\n")
    with pytest.raises(ScenarioError, match=r":6: scenario 'a': resolutions: 1000x1000"):
        load_scenario_file(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty scenario file"),
        ("- 1\n- 2\n", "top level must be a mapping"),
        ("scenarios: [\n", "not valid YAML"),
        ("scenarios: []\n", "scenarios"),
        ("scenarios:\n  - name: a\n    models: [kandinsky-2.2]\n", "weights"),
        ("!!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
    ],
)
def test_malformed_files(write_yaml, text, needle):
    with pytest.raises(ScenarioError, match=needle):
        load_scenario_file(write_yaml(text))


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario_file(tmp_path / "nope.yaml")


def test_duplicate_runs_across_files(write_yaml):
    a = write_yaml(BASE, "a.yaml")
    b = write_yaml(BASE.replace("name: a", "name: b"), "b.yaml")
    with pytest.raises(ScenarioError, match=r"b.yaml: run .* is already defined in scenario 'a' of .*a.yaml"):
        load_scenarios([a, b])
    # each file on its own is valid: validate says which files share runs and exits 0
    proc = run_kbench("validate", str(a), str(b))
    assert proc.returncode == 0, proc.stderr
    assert "note: 1 run(s) of" in proc.stdout and "b.yaml are also in" in proc.stdout and "a.yaml" in proc.stdout


def test_single_scenario_file(write_yaml):
    path = write_yaml("name: solo\nmodels: kandinsky-3\nweights: random\nresolutions: 1024\n")
    runs = load_scenario_file(path)
    assert [(r.model, r.width, r.height, r.weights) for r in runs] == [("kandinsky-3", 1024, 1024, "random")]


def test_parse_resolution():
    assert parse_resolution("768x512") == (768, 512)
    assert parse_resolution(640) == (640, 640)
    assert parse_resolution([512, 768]) == (512, 768)
    with pytest.raises(ValueError):
        parse_resolution("12")


def test_cli_validate_exit_codes(write_yaml):
    good = write_yaml(BASE, "good.yaml")
    bad = write_yaml(BASE + "    resolutions: [1000x1000]\n", "bad.yaml")
    ok = run_kbench("validate", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "1 run(s)" in ok.stdout
    fail = run_kbench("validate", str(bad))
    assert fail.returncode == 2
    lines = fail.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml:6" in lines[0] and "multiples of 64" in lines[0]
    assert "Traceback" not in fail.stderr


def test_cli_dry_run_default_scenario():
    proc = run_kbench("run", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "kandinsky-3|text2img|64x64|s4|b1x1|fp32|none|tiny|cpu|en" in proc.stdout


def test_shipped_scenarios_validate():
    proc = run_kbench("validate", *sorted(str(p.relative_to(REPO)) for p in (REPO / "scenarios").glob("*.yaml")))
    assert proc.returncode == 0, proc.stderr


def test_refiner_expands_as_a_matrix_and_keys_stay_stable(write_yaml):
    path = write_yaml(BASE.replace("kandinsky-2.2", "sdxl-base") + "    refiner: [false, true]\n")
    off, on = load_scenario_file(path)
    assert (off.refiner, on.refiner) == (False, True)
    assert off.run_key == "sdxl-base|text2img|1024x1024|s50|b1x1|fp16|none|tiny|cpu|en"
    assert on.run_key == off.run_key + "|refiner"


def test_strength_is_recorded_as_applied(write_yaml):
    path = write_yaml(
        """\
        scenarios:
          - name: edit
            models: [kandinsky-3, kandinsky-5-lite]
            tasks: [img2img]
            weights: tiny
            device: cpu
            strength: 0.6
        """
    )
    strengths = {r.model: r.strength for r in load_scenario_file(path)}
    # Kandinsky 5's image-editing pipeline takes no strength: it always runs every step
    assert strengths == {"kandinsky-3": 0.6, "kandinsky-5-lite": 1.0}


def test_memory_limit_is_refused_for_cuda_runs(write_yaml):
    path = write_yaml(
        """
        name: limited
        models: [kandinsky-2.2]
        weights: tiny
        device: cuda
        memory_limit_mb: 4096
        """
    )
    with pytest.raises(ScenarioError, match=r"memory_limit_mb: applies to CPU runs only"):
        load_scenario_file(path)

"""What a run built is on its record, and only the registered architecture measures or calibrates a model.

A tiny Kandinsky 3 saved with ``save_pretrained`` and run with ``weights: hub`` (the case that used to be
projected as if it were the full-size model) is measured in-process by the real child code; a GPU is faked
only by naming one in the record's environment, as a record from a GPU machine would.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from bench.cli import main
from bench.cost.catalog import load_catalog
from bench.cost.projection import estimate_workload, measured_index
from bench.cost.report_numbers import ReportNumbers
from bench.measure.child import execute
from bench.models.architecture import (
    Architecture,
    ComponentArchitecture,
    describe_pipelines,
    match,
    match_run,
    registered_role,
)
from bench.models.build import build_pipelines, build_role_components, count_parameters
from bench.report.data import build_report_data
from bench.report.html import render_html
from bench.results import append_record, read_results
from bench.results.registered import not_used_reasons, stands_for_registered
from bench.spec import Workload
from tests.conftest import run_kbench
from tests.factories import tiny_spec

GPU = {"gpu_name": "NVIDIA H100 80GB HBM3"}  # a catalog GPU, as a record from an H100 machine names it
K3_UNET = 3_055_348_228  # the registered full-size Kandinsky 3 UNet (tests/models/test_parameter_counts.py)


@pytest.fixture(scope="module")
def saved_tiny_k3(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-k3")
    build_pipelines("kandinsky-3", "text2img", "tiny", "cpu", "fp32")["main"].save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def hub_record(saved_tiny_k3, tmp_path_factory):
    spec = tiny_spec(
        model="kandinsky-3", weights="hub", hub={"main": str(saved_tiny_k3)}, prior_steps=None, guidance_scale=3.0,
        steps=1, warmup=0, repeats=1, max_repeats=1,
    )  # fmt: skip
    record = execute(spec)
    assert record.status == "ok", record.reason
    path = tmp_path_factory.mktemp("results") / "hub.jsonl"
    append_record(path, record)
    return read_results([path])[0], path  # as every reader sees it: written and read back


def _on_gpu(record, **update):
    """The record as a GPU machine would have written it (only the GPU is faked)."""
    spec = record.spec.model_copy(update={"device": "cuda"})
    return record.model_copy(update={"spec": spec, "env": {**record.env, **GPU}, **update})


def test_a_tiny_hub_pipeline_is_recorded_with_its_real_parameter_counts(hub_record):
    record, _ = hub_record
    arch = record.architecture
    assert arch is not None and arch.registered == "kandinsky-3" and arch.matches is False
    tiny = build_role_components("kandinsky-3", "main", "tiny", "cpu", torch.float32)
    expected = {n: (type(m).__name__, count_parameters(m)) for n, m in tiny.items() if isinstance(m, torch.nn.Module)}
    got = {c.name: (c.class_name, c.parameters) for c in arch.components}
    assert got == expected and all(c.role == "main" for c in arch.components)
    assert all(c.dtypes == {"float32": c.parameters} and len(c.config_hash) == 12 for c in arch.components)
    unet = next(d for d in arch.differences if d.startswith("main/unet:"))
    assert f"{expected['unet'][1]:,} parameters, registered {K3_UNET:,}" in unet


def test_a_record_that_built_another_architecture_never_measures_or_calibrates(hub_record):
    record, _ = hub_record
    catalog = load_catalog()
    on_gpu = _on_gpu(record)
    assert measured_index([on_gpu], catalog) == [] and not stands_for_registered(on_gpu)
    work = Workload.from_spec(on_gpu.spec)
    estimates = estimate_workload(work, catalog, [on_gpu], ["h100-sxm"])
    assert [e.source for e in estimates] == ["projected"] and record.run_key not in estimates[0].calibration
    # the same record had it matched (and an older record with no architecture) does calibrate: not vacuous
    matching = _on_gpu(record, architecture=record.architecture.model_copy(update={"matches": True}))
    older = _on_gpu(record, architecture=None)
    assert len(measured_index([matching], catalog)) == 1 and len(measured_index([older], catalog)) == 1
    assert [e.source for e in estimate_workload(work, catalog, [matching], ["h100-sxm"])] == ["measured"]


def test_its_report_carries_the_banner_and_the_row_label(hub_record):
    record, _ = hub_record
    data = build_report_data([record], load_catalog(), ReportNumbers(()), "hub")
    label = "architecture differs from kandinsky-3: not projected"
    assert [n for n in data.weight_notes if n.startswith(label)] and f"registered {K3_UNET:,}" in data.weight_notes[0]
    assert data.rows[0].reason == label and data.rows[0].median_s_per_image is not None  # measured, for what it is
    html = render_html(data, [])
    assert "Not the real weights." in html and label in html
    unet = next(c for c in record.architecture.components if c.name == "unet")
    built = html.split('<table id="built-architectures">', 1)[1].split("</table>", 1)[0]
    assert f"main/unet Kandinsky3UNet {unet.parameters:,} (float32) #{unet.config_hash}" in built and label in built
    old = record.model_copy(update={"architecture": None})
    older = build_report_data([old], load_catalog(), ReportNumbers(()), "old")
    assert older.weight_notes == () and older.rows[0].reason == ""  # old records keep the rule by weight source


def test_recommend_with_results_says_why_the_record_was_not_used(hub_record, tmp_path, capsys):
    record, _ = hub_record
    path = tmp_path / "gpu.jsonl"
    append_record(path, _on_gpu(record))
    code = main(["recommend", "--model", "kandinsky-3", "--gpu", "h100-sxm", "--results", str(path), "--no-guide-vram"])
    out = " ".join(capsys.readouterr().out.split())  # notes are wrapped to the terminal width
    assert code == 0
    assert f"not used: {record.run_key}: architecture differs from kandinsky-3: not projected (main/" in out
    assert not_used_reasons([_on_gpu(record, architecture=None)], "kandinsky-3") == []


def _save_configs(pipe, directory):
    """A pipeline directory without weights: model_index.json and every component's config."""
    pipe.save_config(directory)
    for name, component in pipe.components.items():
        if hasattr(component, "save_config"):  # diffusers models and schedulers
            component.save_config(directory / name)
        elif isinstance(component, torch.nn.Module):  # transformers models
            component.config.save_pretrained(directory / name)


@pytest.fixture(scope="module")
def random_k3():
    """The ``random`` full-size Kandinsky 3 pipeline, on the meta device (shapes and dtypes, no memory)."""
    return build_pipelines("kandinsky-3", "text2img", "random", "meta", "fp16")


@pytest.fixture(scope="module")
def full_size_configs(random_k3, tmp_path_factory):
    directory = tmp_path_factory.mktemp("k3-full-configs")
    _save_configs(random_k3["main"], directory)
    assert not list(directory.rglob("*.safetensors"))
    return directory


def test_a_random_build_is_the_registered_architecture_with_the_loaders_dtype_plan(random_k3):
    built = describe_pipelines(random_k3, "kandinsky-3", "text2img")
    assert match_run(built, "kandinsky-3", "text2img").matches
    encoder = built.by_key()[("main", "text_encoder")]
    kept_fp32 = 32 * 16384 * 4096  # T5's wo (d_ff x d_model) in each of the 32 layers stays fp32 under fp16
    assert encoder.dtypes == {"float16": encoder.parameters - kept_fp32, "float32": kept_fp32}


def test_the_random_full_size_build_matches_its_registered_model_through_models_check(full_size_configs):
    out = run_kbench("models", "--check", str(full_size_configs), timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "compared with kandinsky-3 (main)" in out.stdout and "matches the registered kandinsky-3" in out.stdout
    assert f"{K3_UNET:,}" in out.stdout


def test_fewer_layers_are_reported_with_the_difference(full_size_configs, tmp_path, capsys):
    changed = tmp_path / "pruned"
    shutil.copytree(full_size_configs, changed)
    config_path = changed / "unet" / "config.json"
    config = json.loads(config_path.read_text())
    assert config["layers_per_block"] == 3
    config_path.write_text(json.dumps({**config, "layers_per_block": 2}))
    code = main(["models", "--check", str(changed), "--model", "kandinsky-3"])
    out = capsys.readouterr().out
    assert code == 1
    assert "differs from the registered kandinsky-3:" in out and "- main/unet: " in out
    assert f"registered {K3_UNET:,}" in out and "layers_per_block 2 (registered 3)" in out
    assert "main/text_encoder" not in out.split("differs from")[1]  # only what changed is listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--check", "{tmp}/nope"], "not a directory"),
        (["--check", "{tmp}"], "not a pipeline directory (no model_index.json)"),
        (["--check", "{tmp}", "--model", "kandinsky-9"], "unknown model 'kandinsky-9'"),
        (["--model", "kandinsky-3"], "--model: only with --check DIR"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    code = main(["models", *(a.replace("{tmp}", str(tmp_path)) for a in args)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def _arch(*components: tuple[str, int, dict[str, int]]) -> Architecture:
    return Architecture("m", tuple(ComponentArchitecture("main", n, "C", p, "h", d) for n, p, d in components))


def test_match_tolerates_five_parameters_in_a_million_and_flags_quantized_weights():
    registered = _arch(("unet", 1_000_000, {}))
    assert match(_arch(("unet", 1_000_005, {"float16": 1_000_005})), registered).matches
    assert match(_arch(("unet", 1_000_006, {})), registered).differences == (
        "main/unet: 1,000,006 parameters, registered 1,000,000 (+0.0006%)",
    )
    quantized = match(_arch(("unet", 1_000_000, {"int8": 999_000, "float16": 1_000})), registered)
    assert quantized.differences == ("main/unet: parameters stored as int8 (quantized)",)
    extra = match(_arch(("unet", 1_000_000, {}), ("vae", 5, {})), registered).differences
    assert extra == ("main/vae: C is not in the registered m",)
    assert match(_arch(), registered).differences == ("main/unet: missing (registered C, 1,000,000 parameters)",)


def test_the_closest_registered_variants_are_told_apart():
    """FLUX.1 [schnell] is [dev] without the guidance embedder: 10,229,760 fewer of 11.9B parameters (0.086%)."""
    dev, schnell = registered_role("flux.1-dev", "main"), registered_role("flux.1-schnell", "main")
    verdict = match(Architecture("flux.1-schnell", schnell), Architecture("flux.1-dev", dev))
    assert verdict.differences == ("main/transformer: 11,891,178,560 parameters, registered 11,901,408,320 (-0.09%)",)

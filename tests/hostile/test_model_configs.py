"""``kbench models --check DIR`` on hostile saved pipelines: every component config is read and held to limits
derived from the registered configs before anything is built, and each build runs under a module budget.

A refusal is one line naming the file, the field, the value and the limit (exit 2). The two cases that once
grew without bound (a million layers; sizes that each pass but multiply) run in a child process whose address
space is capped, so a regression fails fast instead of taking the machine's memory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.models.config_limits import MAX_BUILT_MODULES, MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, SIZE_FACTOR
from bench.models.configs import load_config
from tests.conftest import REPO
from tests.hostile.conftest import HANG_S, refused, write

CHILD_ADDRESS_SPACE = 3 * 1024**3  # a refusal, torch and diffusers imported, maps about 1 GiB
K22_DECODER = {"unet": "k22_unet", "movq": "k22_movq"}  # KandinskyV22Pipeline's neural components
K22_PRIOR = {"prior": "k22_prior", "image_encoder": "k22_prior_image_encoder", "text_encoder": "k22_prior_text_encoder"}
SDXL = {"unet": "sdxl_unet", "vae": "sdxl_vae", "text_encoder": "sdxl_text_encoder",
        "text_encoder_2": "sdxl_text_encoder_2"}  # fmt: skip


def saved_pipeline(root: Path, index: str, components: dict[str, str], **changes: dict[str, Any]) -> Path:
    """A pipeline directory of configs only (the shipped full-size ones), with ``changes`` per component."""
    write(root / "model_index.json", json.dumps(load_config(index, "random")))
    for name, stem in components.items():
        config = {**load_config(stem, "random"), **changes.get(name, {})}
        write(root / name / "config.json", json.dumps(config))
    return root


def _cap_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))


def check_in_capped_child(directory: Path) -> subprocess.CompletedProcess[str]:
    """``kbench models --check DIR`` in a child that cannot map more than :data:`CHILD_ADDRESS_SPACE`."""
    return subprocess.run(
        [sys.executable, "-m", "bench", "models", "--check", str(directory)],
        cwd=REPO, capture_output=True, text=True, timeout=HANG_S, preexec_fn=_cap_address_space,
    )  # fmt: skip


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kbench: ")]
    assert proc.returncode == 2 and len(errors) == 1, (proc.returncode, proc.stderr[-2000:])
    return errors[0]


def test_a_million_layers_is_refused_before_anything_is_built(work):
    directory = saved_pipeline(work / "p", "k22_prior_model_index", K22_PRIOR, prior={"num_layers": 1_000_000})
    line = _one_error_line(check_in_capped_child(directory))
    assert line == (
        f"kbench: error: {directory}/prior/config.json: num_layers: 1000000 is over the limit 160 "
        f"({SIZE_FACTOR}x the largest num_layers of the registered PriorTransformer configs, 20); "
        "nothing is built from a config this size"
    )


def test_sizes_that_pass_one_by_one_but_multiply_stop_at_the_module_budget(work):
    """Eight times the layers per block, each with eight times the attention layers: every key within its
    limit, the product a thousand times the registered UNet's modules."""
    wide = {"layers_per_block": 2 * SIZE_FACTOR, "transformer_layers_per_block": [SIZE_FACTOR, 16, 80]}
    directory = saved_pipeline(work / "p", "sdxl_model_index", SDXL, unet=wide)
    line = _one_error_line(check_in_capped_child(directory))
    assert line.startswith(f"kbench: error: {directory}/unet/config.json: building UNet2DConditionModel ")
    assert f"made more than {MAX_BUILT_MODULES:,} modules" in line


CASE_IDS = [
    "negative-size", "negative-codebook", "string-where-int", "fraction-where-int", "bool-where-int",
    "string-for-a-list", "empty-block-list", "every-block-list-empty", "long-list", "long-unknown-list",
    "huge-list-item", "400-digit-int", "nan", "unknown-key",
]  # fmt: skip


@pytest.mark.parametrize(
    ("component", "change", "needle"),
    [
        ("unet", {"layers_per_block": -1}, "unet/config.json: layers_per_block: -1 is negative"),
        ("movq", {"num_vq_embeddings": -5}, "movq/config.json: num_vq_embeddings: -5 is negative"),
        (
            "unet",
            {"layers_per_block": "2"},
            "unet/config.json: layers_per_block: '2' is not an integer (the registered UNet2DConditionModel configs",
        ),
        ("unet", {"layers_per_block": 2.5}, "layers_per_block: 2.5 is not an integer"),
        ("unet", {"layers_per_block": True}, "layers_per_block: True is not an integer"),
        ("movq", {"block_out_channels": "abc"}, "movq/config.json: block_out_channels: 'abc' is not an integer"),
        (
            "unet",
            {"block_out_channels": []},
            "unet/config.json: block_out_channels: an empty list; the registered UNet2DConditionModel configs give",
        ),
        (
            "unet",
            {"block_out_channels": [], "down_block_types": [], "up_block_types": []},
            "block_out_channels: an empty list",
        ),
        ("unet", {"block_out_channels": [320] * 100}, "block_out_channels: a list of 100 items; at most 32"),
        ("unet", {"layer_types": ["x"] * 100_000}, "layer_types: a list of 100,000 items; at most"),
        ("unet", {"block_out_channels": [384, 768, 1152, 10**6]}, "block_out_channels[3]: 1000000 is over the limit"),
        ("unet", {"cross_attention_dim": 10**400}, "cross_attention_dim: 100000000"),
        ("unet", {"norm_eps": float("nan")}, "unet/config.json: norm_eps: nan is not a finite number"),
        ("unet", {"brand_new_key": 10**12}, "brand_new_key: 1000000000000 is over the limit"),
    ],
    ids=CASE_IDS,
)
def test_a_config_past_its_limits_is_one_line(kb, work, component, change, needle):
    directory = saved_pipeline(work / "p", "k22_model_index", K22_DECODER, **{component: change})
    refused(kb("models", "--check", directory), f"{directory}/", needle)


def test_a_deeply_nested_config_is_one_line(kb, work):
    directory = saved_pipeline(work / "p", "k22_model_index", K22_DECODER)
    write(directory / "unet" / "config.json", "[" * 100_000)
    refused(kb("models", "--check", directory), f"{directory}/unet/config.json: nested deeper than")
    write(directory / "unet" / "config.json", json.dumps({"a": json.loads("[" * 40 + "]" * 40)}))
    refused(kb("models", "--check", directory), f"nested deeper than {MAX_CONFIG_DEPTH} levels")


def test_a_deeply_nested_model_index_is_one_line(kb, work):
    directory = saved_pipeline(work / "p", "k22_model_index", K22_DECODER)
    write(directory / "model_index.json", "[" * 100_000)
    refused(kb("models", "--check", directory), f"{directory}/model_index.json: nested deeper than")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[1, 2]", "unet/config.json: must be a JSON object"),
        ("{not json", "unet/config.json: not valid JSON"),
        (b"\x89PNG\r\n\x1a\n\0", "unet/config.json: component config file is binary"),
        ("{}" + " " * MAX_CONFIG_BYTES, f"component config file is {MAX_CONFIG_BYTES + 2:,} bytes; the limit is"),
    ],
    ids=["list", "not-json", "binary", "oversized"],
)
def test_a_config_that_is_not_a_config_is_one_line(kb, work, text, needle):
    directory = saved_pipeline(work / "p", "k22_model_index", K22_DECODER)
    write(directory / "unet" / "config.json", text)
    refused(kb("models", "--check", directory), needle)


def test_a_component_name_outside_the_directory_is_refused(kb, work):
    directory = saved_pipeline(work / "p", "k22_model_index", K22_DECODER)
    index = {**load_config("k22_model_index", "random"), "../unet": ["diffusers", "UNet2DConditionModel"]}
    write(directory / "model_index.json", json.dumps(index))
    refused(kb("models", "--check", directory), "model_index.json: '../unet': not a component folder name")

"""The limits ``models --check`` holds a saved config to are generous for every registered model: each
registered config, full-size and tiny, as shipped and as ``save_pretrained`` writes it, passes them, and the
module budget is :data:`SIZE_FACTOR` times the largest registered component."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.errors import ModelError
from bench.models.build import build_component
from bench.models.config_limits import (
    LARGEST_REGISTERED_MODULES,
    MAX_BUILT_MODULES,
    SIZE_FACTOR,
    ModuleBudgetExceeded,
    check_component_config,
    limits_for,
    module_budget,
    registered_component_specs,
)
from bench.models.configs import load_config
from bench.models.saved_pipeline import _component_class
from bench.models.types import ComponentSpec

SPECS = registered_component_specs()


def _class_of(spec: ComponentSpec) -> Any:
    library = "kandinsky" if spec.class_name == "MultilingualCLIP" else "diffusers"
    return _component_class(library, spec.class_name) or _component_class("transformers", spec.class_name)


def _saved_forms(module: Any) -> list[dict[str, Any]]:
    """The config as ``save_pretrained`` writes it: diffusers' whole config; transformers' whole and diff form."""
    config = module.config
    if hasattr(config, "to_diff_dict"):  # transformers
        return [json.loads(config.to_json_string(use_diff=False)), config.to_diff_dict()]
    return [json.loads(module.to_json_string()) if hasattr(module, "to_json_string") else dict(config)]


@pytest.fixture(scope="module")
def built() -> dict[tuple[str, str], tuple[Any, int]]:
    """Every registered neural component built on the meta device, full-size and tiny, with its module count."""
    from torch.nn.modules.module import register_module_module_registration_hook

    count = [0]

    def counted(*_: object) -> None:
        count[0] += 1

    out = {}
    handle = register_module_module_registration_hook(counted)
    try:
        for spec in SPECS:
            for weights in ("random", "tiny"):
                count[0] = 0
                out[(spec.config, weights)] = (build_component(spec, weights, "meta", torch.float16), count[0])
    finally:
        handle.remove()
    return out


@pytest.mark.slow  # builds every registered component on the meta device (no memory, some seconds)
@pytest.mark.parametrize("spec", SPECS, ids=[s.config for s in SPECS])
def test_every_registered_config_passes_its_own_limits(spec, built):
    cls = _class_of(spec)
    assert cls is not None, spec.class_name
    for weights in ("random", "tiny"):
        where = Path(f"{spec.config}-{weights}.json")
        check_component_config(load_config(spec.config, weights), spec.class_name, cls, where)
        for saved in _saved_forms(built[(spec.config, weights)][0]):
            check_component_config(saved, spec.class_name, cls, where)


@pytest.mark.slow
def test_the_module_budget_is_the_factor_times_the_largest_registered_component(built):
    largest = max(count for _, count in built.values())
    assert largest == LARGEST_REGISTERED_MODULES  # update the constant (and its comment) with the registry
    assert SIZE_FACTOR * largest == MAX_BUILT_MODULES


def test_the_budget_stops_a_build_and_is_released_after_it():
    with pytest.raises(ModuleBudgetExceeded), module_budget(limit=5):
        torch.nn.Sequential(*(torch.nn.Identity() for _ in range(10)))
    torch.nn.Sequential(*(torch.nn.Identity() for _ in range(10)))  # no hook left behind


def test_a_key_the_class_leaves_out_is_held_to_its_default_or_another_class():
    """T5 spells its layer count num_layers; num_hidden_layers is its alias, held to the same limit."""
    t5 = _class_of(next(s for s in SPECS if s.class_name == "T5EncoderModel"))
    limits = limits_for("T5EncoderModel", t5)
    assert limits.aliases["num_hidden_layers"] == "num_layers"
    with pytest.raises(ModelError, match=r"num_hidden_layers: 1000000 is over the limit 256 .*num_layers"):
        check_component_config({"num_hidden_layers": 1_000_000}, "T5EncoderModel", t5, Path("config.json"))
    gpt2 = _component_class("transformers", "GPT2Model")  # no registered config: its own defaults decide
    with pytest.raises(ModelError, match=r"n_layer: 100000 is over the limit 96 .*GPT2Model defaults"):
        check_component_config({"n_layer": 100_000}, "GPT2Model", gpt2, Path("config.json"))

"""The dtype plan ``from_pretrained(torch_dtype=...)`` gives a model, applied to a model built from its config.

A ``random`` build must have the same compute and memory as the real model, so its parameters get the
dtypes the loaders give them, read from the classes' own declarations (no model names here):

- transformers (``PreTrainedModel._get_dtype_plan``): ``_keep_in_fp32_modules`` stay fp32 when the requested
  dtype is fp16, ``_keep_in_fp32_modules_strict`` when it is fp16 or bf16; a pattern matches a parameter name
  anywhere in it (a regular-expression search, ``*`` as a wildcard).
- diffusers (``load_model_dict_into_meta``): ``_keep_in_fp32_modules`` stay fp32 for any requested dtype; a
  name matches when one of its dotted parts equals the module name.

Everything else in the checkpoint (parameters, persistent buffers) takes the requested dtype, whatever
``torch_dtype`` the shipped config names. Non-persistent buffers (rotary tables, masks) are not in a checkpoint:
like the loaders, the build leaves them as the model constructed them under the requested default dtype.
``tests/models/test_dtype_plan.py`` checks the result against a real ``save_pretrained`` -> ``from_pretrained``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import torch

from bench.models.quiet_import import import_diffusers

FP32_MODULE_ATTRIBUTES = ("_keep_in_fp32_modules", "_keep_in_fp32_modules_strict")


def _patterns(module: Any, attribute: str) -> list[str]:
    value = getattr(module, attribute, None)
    if not value:
        return []
    return [value] if isinstance(value, str) else sorted(value)


def kept_in_fp32(module: Any, dtype: torch.dtype) -> Callable[[str], bool]:
    """A test of parameter names: True for those the loaders keep in fp32 when loading at ``dtype``."""
    ModelMixin = import_diffusers().ModelMixin

    if isinstance(module, ModelMixin):
        names = set(_patterns(module, "_keep_in_fp32_modules"))
        return lambda name: bool(names) and any(part in names for part in name.split("."))
    patterns = _patterns(module, "_keep_in_fp32_modules") if dtype == torch.float16 else []
    if dtype in (torch.float16, torch.bfloat16):
        patterns += _patterns(module, "_keep_in_fp32_modules_strict")
    if not patterns:
        return lambda name: False
    search = re.compile("|".join(f"(?:{p.replace('*', '.*')})" for p in patterns)).search
    return lambda name: search(name) is not None


def _floating_tensors(module: torch.nn.Module, checkpoint_only: bool = False) -> Iterator[tuple[str, torch.Tensor]]:
    """Floating parameters and buffers; with ``checkpoint_only``, without the non-persistent buffers."""
    skip = _non_persistent_buffers(module) if checkpoint_only else set()
    for name, param in module.named_parameters():
        if param.is_floating_point():
            yield name, param
    for name, buffer in module.named_buffers():
        if buffer.is_floating_point() and name not in skip:
            yield name, buffer


def _non_persistent_buffers(module: torch.nn.Module) -> set[str]:
    return {
        f"{prefix}.{name}" if prefix else name
        for prefix, sub in module.named_modules()
        for name in getattr(sub, "_non_persistent_buffers_set", ())
    }


def apply_dtype_plan(module: torch.nn.Module, dtype: torch.dtype) -> int:
    """Cast ``module``'s checkpoint tensors as loading at ``dtype`` would; return the fp32-kept element count."""
    keep = kept_in_fp32(module, dtype)
    kept = 0
    for name, tensor in _floating_tensors(module, checkpoint_only=True):
        target = torch.float32 if keep(name) else dtype
        kept += tensor.numel() if keep(name) else 0
        if tensor.dtype != target:
            tensor.data = tensor.data.to(target)
    return kept


def dtype_map(module: torch.nn.Module) -> dict[str, str]:
    """Name -> dtype of every floating parameter and buffer (what the plan decides)."""
    return {name: str(tensor.dtype).removeprefix("torch.") for name, tensor in _floating_tensors(module)}

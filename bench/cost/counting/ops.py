"""Op counting: FLOPs, bytes moved and activation memory of one call, seen op by op under a dispatch mode.

The full-size models are built on ``meta`` by ``bench.models.build`` (shapes only: no weights, no memory, no
GPU) and run once per component under a dispatch mode that sees every aten op. For each op that launches a
kernel we record:

- **FLOPs** from PyTorch's own formulas (``torch.utils.flop_counter``): 2 per multiply-add of matmuls and
  convolutions; element-wise ops count 0 FLOPs (they are bandwidth-bound and the roofline charges their bytes).
- **Bytes** = bytes of every tensor the op reads plus every tensor it writes, each tensor counted once at the
  size of the memory it spans (broadcast views are not multiplied). Eager PyTorch launches one kernel per
  aten op and each kernel reads its inputs from and writes its outputs to device memory, so this is the
  DRAM traffic of an eager run without cache reuse. Parameters are counted each time an op reads them.
- **Attention** (``F.scaled_dot_product_attention``) is counted as one fused kernel, as the flash / memory-
  efficient kernels run on a GPU: FLOPs ``4·batch·heads·Lq·Lk·d`` and bytes of Q, K, V, mask and output
  (the attention matrix is never written to memory).
- **Activation peak**: the largest total of live tensors the ops produced (plus the inputs), tracked by
  freeing each tensor's bytes when it is garbage-collected.
- **Workspace peak**: the same, with each convolution's transient cuDNN workspace beside the live tensors while it
  runs: a copy of its input, and of its output too where the convolution computes in fp32. Eager convolutions take
  channels-first tensors, which cuDNN's tensor-core kernels read and write through layout copies in their
  workspace; the sizes are what published peak-memory figures imply (``kbench projection-check --vram``), cuDNN does
  not document them. GEMMs and fused attention need no such copy. :mod:`bench.cost.vram` uses this peak.
- **Op class** of every kernel (:data:`OP_CLASSES`: GEMM, convolution, fused attention, element-wise,
  normalisation/reduction, copy) and whether its math runs in fp32 (an fp32 input to a GEMM or convolution, as
  in the modules the loaders keep in fp32), so the performance model can charge each class its own
  efficiency and the right peak rate.

Every model is counted this way, with no analytic fallback: the SDXL UNet (with its ``text_time`` added
conditioning), the FLUX.1 transformer on packed 2x2 latents with T5 at ``max_sequence_length``, and the
Kandinsky 5 transformer and its Qwen2.5-VL encoder (LM head included, as the pipeline runs the whole model).
A dense transformer's count is *not* ``2 x parameters x tokens``: FLUX.1's 11.9 B parameters include 3.3 B of
AdaLN modulation and embedding weights applied once per image, not per token, so its step is about 0.68 of
that rule at 1024x1024 (``tests/cost/test_flops.py`` checks the per-layer count).

Which components run, how often and on what shapes comes from the model's call plan
(:mod:`bench.models.callplan`); :mod:`bench.cost.counting.profile` applies it.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}
# Kernel classes, in the order of their codes in ``OpCount.kinds``.
OP_CLASSES = ("gemm", "conv", "attention", "elementwise", "norm", "copy")
GEMM, CONV, ATTENTION, ELEMENTWISE, NORM, COPY = range(len(OP_CLASSES))
_GEMM_OPS = frozenset({"mm", "addmm", "bmm", "baddbmm", "matmul", "addmv", "mv", "dot", "_scaled_mm", "linear"})
_CONV_OPS = frozenset({"convolution", "_convolution", "cudnn_convolution", "conv2d", "conv1d", "conv3d"})
_NORM_OPS = frozenset(
    {
        "native_group_norm",
        "native_layer_norm",
        "_fused_rms_norm",
        "rms_norm",
        "_softmax",
        "_log_softmax",
        "softmax",
        "sum",
        "mean",
        "var_mean",
        "var",
        "std",
        "amax",
        "amin",
        "max",
        "min",
        "argmax",
        "norm",
        "linalg_vector_norm",
        "cumsum",
        "topk",
        "sort",
        "prod",
        "any",
        "all",
    }
)
_COPY_OPS = frozenset(
    {
        "copy_",
        "_to_copy",
        "clone",
        "cat",
        "stack",
        "index",
        "index_select",
        "gather",
        "scatter",
        "index_put_",
        "constant_pad_nd",
        "repeat",
        "repeat_interleave",
        "upsample_nearest2d",
        "_unsafe_index",
        "fill_",
        "zero_",
        "zeros_like",
        "ones_like",
        "full",
        "arange",
        "embedding",
        "split_with_sizes_copy",
        "unbind_copy",
        "flip",
        "roll",
    }
)


def op_class(name: str) -> int:
    """The class code of an aten op given its overload packet name (``aten.addmm`` -> ``"addmm"``)."""
    if name in _GEMM_OPS:
        return GEMM
    if name in _CONV_OPS:
        return CONV
    if name in _NORM_OPS:
        return NORM
    if name in _COPY_OPS:
        return COPY
    return ELEMENTWISE


# How every count here is made; no component falls back to an analytic count.
METHOD = "counted on meta"


@dataclass(frozen=True)
class OpCount:
    """One call of one module: per-kernel FLOPs, bytes, class and math width, plus its weight and activation memory.

    ``kinds`` holds each kernel's :data:`OP_CLASSES` code and ``fp32`` whether it computes in fp32; counts built by
    hand may leave them out (kernels with FLOPs are then GEMMs, the others element-wise, all in half precision).
    """

    flops: np.ndarray
    bytes: np.ndarray
    weight_bytes: int
    activation_peak_bytes: int
    kinds: np.ndarray | None = None
    fp32: np.ndarray | None = None
    workspace_peak_bytes: int = 0  # live tensors plus a convolution's layout copies (module docstring); 0: not counted

    @property
    def peak_bytes(self) -> int:
        """Device memory the call needs beyond its weights: the larger of the two peaks."""
        return max(self.activation_peak_bytes, self.workspace_peak_bytes)

    def kind_codes(self) -> np.ndarray:
        """Each kernel's class code (not recorded: GEMM where it has FLOPs, else element-wise)."""
        if self.kinds is not None:
            return self.kinds
        return np.where(self.flops > 0, GEMM, ELEMENTWISE).astype(np.int8)

    def fp32_mask(self) -> np.ndarray:
        """Whether each kernel computes in fp32 (none, where the count did not record it)."""
        return self.fp32 if self.fp32 is not None else np.zeros(self.flops.size, dtype=bool)

    @property
    def total_flops(self) -> float:
        return float(self.flops.sum())

    @property
    def total_bytes(self) -> float:
        return float(self.bytes.sum())

    @property
    def kernels(self) -> int:
        return int(self.flops.size)


def _span_bytes(t: torch.Tensor) -> int:
    """Bytes of the memory a tensor spans: broadcast (stride-0) dimensions count once."""
    if t.numel() == 0:
        return 0
    elements = 1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride(), strict=True) if s > 1 and st > 0)
    return int(elements * t.element_size())


class _Tally:
    """Accumulates per-kernel FLOPs/bytes and live activation bytes for one counted call."""

    def __init__(self) -> None:
        self.flops: list[float] = []
        self.bytes: list[float] = []
        self.kinds: list[int] = []
        self.fp32: list[bool] = []
        self.live = 0
        self.peak = 0
        self.workspace_peak = 0

    def add_kernel(self, flops: float, nbytes: float, kind: int = ELEMENTWISE, fp32: bool = False) -> None:
        self.flops.append(float(flops))
        self.bytes.append(float(nbytes))
        self.kinds.append(kind)
        self.fp32.append(fp32)

    def track(self, t: torch.Tensor) -> None:
        nbytes = _span_bytes(t)
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(t, self._free, nbytes)

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes

    def convolution(self, input_bytes: int, output_bytes: int, fp32: bool) -> None:
        """A convolution just ran (its output is live): its layout copies sit beside the live tensors."""
        transient = input_bytes + (output_bytes if fp32 else 0)
        self.workspace_peak = max(self.workspace_peak, self.live + transient)


@functools.cache
def _modes() -> tuple[type, type]:
    """Build the two mode classes lazily so importing this module does not import torch."""
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    from torch.utils.flop_counter import flop_registry

    aten = torch.ops.aten
    no_kernel = {
        aten.empty.memory_format,
        aten.empty_strided.default,
        aten.detach.default,
        aten.lift_fresh.default,
        aten.alias.default,
        aten._local_scalar_dense.default,
    }

    class Dispatch(TorchDispatchMode):
        def __init__(self, tally: _Tally) -> None:
            super().__init__()
            self.tally = tally

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if func in no_kernel or getattr(func, "is_view", False):
                return out
            ins = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
            outs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
            if not outs:
                return out
            formula = flop_registry.get(func._overloadpacket)
            flops = formula(*args, **kwargs, out_val=out) if formula is not None else 0
            kind = op_class(func._overloadpacket.__name__)
            wide = kind in (GEMM, CONV) and any(t.dtype == torch.float32 for t in ins)
            self.tally.add_kernel(flops, sum(_span_bytes(t) for t in (*ins, *outs)), kind, wide)
            for o in outs:
                self.tally.track(o)
            if kind == CONV and ins:
                self.tally.convolution(_span_bytes(ins[0]), sum(_span_bytes(o) for o in outs), wide)
            return out

    class Function(TorchFunctionMode):
        """Count SDPA as one fused kernel and skip its math decomposition."""

        def __init__(self, tally: _Tally) -> None:
            super().__init__()
            self.tally = tally

        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            if func is not torch.nn.functional.scaled_dot_product_attention:
                return func(*args, **kwargs)
            names = ("query", "key", "value", "attn_mask")
            given = dict(zip(names, args, strict=False)) | {n: kwargs[n] for n in names if n in kwargs}
            q, k, v, mask = given["query"], given["key"], given["value"], given.get("attn_mask")
            out = torch.empty((*q.shape[:-1], v.shape[-1]), dtype=q.dtype, device=q.device)
            rows = float(np.prod(q.shape[:-1]))
            flops = 2.0 * rows * k.shape[-2] * q.shape[-1] + 2.0 * rows * k.shape[-2] * v.shape[-1]
            tensors = [q, k, v, out, *([mask] if isinstance(mask, torch.Tensor) else [])]
            self.tally.add_kernel(flops, sum(_span_bytes(t) for t in tensors), ATTENTION, q.dtype == torch.float32)
            self.tally.track(out)
            return out

    return Dispatch, Function


def module_weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    tensors = [*module.parameters(), *module.buffers()]
    return int(sum(t.numel() * t.element_size() for t in tensors))


def parameter_leaves(module: torch.nn.Module) -> int:
    """Modules that hold parameters or buffers of their own: what sequential CPU offload moves one at a time."""
    return sum(1 for m in module.modules() if [*m.parameters(recurse=False), *m.buffers(recurse=False)])


def largest_leaf_bytes(module: torch.nn.Module) -> int:
    """Bytes of the largest leaf module (what sequential CPU offload holds on the GPU at once)."""
    sizes = [
        sum(t.numel() * t.element_size() for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)))
        for m in module.modules()
    ]
    return int(max(sizes, default=0))


def count_call(fn: Callable[..., Any], *args: Any, weight_bytes: int = 0, **kwargs: Any) -> OpCount:
    """Run ``fn(*args, **kwargs)`` once under the counting modes and return its per-kernel counts.

    Works on meta tensors (no memory) and on real CPU tensors alike.
    """
    import torch
    from torch.utils._pytree import tree_flatten

    dispatch_cls, function_cls = _modes()
    tally = _Tally()
    inputs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
    tally.live = tally.peak = sum(_span_bytes(t) for t in inputs)
    with torch.no_grad(), function_cls(tally), dispatch_cls(tally):
        result = fn(*args, **kwargs)
    del result
    return OpCount(
        flops=np.asarray(tally.flops, dtype=np.float64),
        bytes=np.asarray(tally.bytes, dtype=np.float64),
        weight_bytes=weight_bytes,
        activation_peak_bytes=int(tally.peak),
        kinds=np.asarray(tally.kinds, dtype=np.int8),
        fp32=np.asarray(tally.fp32, dtype=bool),
        workspace_peak_bytes=int(max(tally.peak, tally.workspace_peak)),
    )


def count_module(module: torch.nn.Module, *args: Any, **kwargs: Any) -> OpCount:
    """Count one forward call of ``module``; its weights are included in ``weight_bytes``."""
    return count_call(module, *args, weight_bytes=module_weight_bytes(module), **kwargs)

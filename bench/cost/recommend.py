"""Which GPU to rent: rank catalog GPUs for a workload by $ per 1000 images under constraints.

Also checks the deployment guide's VRAM table against kbench's own estimate, so a user learns from the tool,
not from the guide, whether a card fits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.cost.catalog import Catalog, GuideVram
from bench.cost.counting.profile import profile_workload
from bench.cost.projection import Estimate, MeasuredIndex, estimate_workload, measured_index
from bench.cost.vram import estimate_vram
from bench.errors import KbenchError
from bench.results import RunRecord
from bench.spec import VRAM_MEMORY_OPTIONS, Workload, parse_resolution


class NoGpuFits(KbenchError):
    """Every catalog GPU was excluded by the constraints (exit code 2)."""


@dataclass(frozen=True)
class Constraints:
    """What a recommendation must satisfy."""

    max_s_per_image: float | None = None
    max_usd_per_hour: float | None = None
    min_headroom_gb: float = 0.0
    providers: list[str] | None = None
    require_price: bool = True
    price_policy: str | None = None  # how prices were chosen, for the message when none passes


def _describe(c: Constraints) -> dict[str, str]:
    return {
        "vram": f"do not fit in VRAM with {c.min_headroom_gb:g} GB headroom",
        "speed": f"are slower than {c.max_s_per_image:g} s per image" if c.max_s_per_image is not None else "",
        "price": f"cost more than ${c.max_usd_per_hour:g}/h" if c.max_usd_per_hour is not None else "",
        "unpriced": "have no price"
        + (f" from {', '.join(c.providers)}" if c.providers else "")
        + (f" under the price policy ({c.price_policy})" if c.price_policy else ""),
    }


def fastest_fitting(options: Sequence[Estimate], min_headroom_gb: float = 0.0) -> Estimate:
    """Of one GPU's estimates under several memory options, the fastest that fits with the headroom asked.

    When none fits, the one needing the least memory is returned (it is then excluded for VRAM).
    """
    fitting = [e for e in options if e.headroom_gb >= min_headroom_gb]
    if fitting:
        return min(fitting, key=lambda e: e.s_per_image)
    return min(options, key=lambda e: e.vram_needed_gb)


def recommend(
    workload: Workload,
    catalog: Catalog,
    constraints: Constraints | None = None,
    records: Iterable[RunRecord] = (),
    gpu_ids: list[str] | None = None,
    *,
    memory_auto: bool = False,
    tf32: bool = False,
) -> list[Estimate]:
    """GPUs meeting ``constraints`` for ``workload``, cheapest per 1000 images first.

    With ``memory_auto`` each GPU runs the fastest memory option that fits it (``none``, model offload or
    sequential offload; the estimate names the one chosen) instead of ``workload.memory``. ``tf32``: an fp32
    workload's matmuls on TF32 tensor cores (``torch.backends.cuda.matmul.allow_tf32``).

    Raises:
        NoGpuFits: when every GPU is excluded; the message counts the GPUs each constraint excluded.
    """
    c = constraints or Constraints()
    index = MeasuredIndex(measured_index(records, catalog))
    options = VRAM_MEMORY_OPTIONS if memory_auto else (workload.memory,)
    per_option = [
        estimate_workload(workload.with_(memory=m), catalog, index, gpu_ids, providers=c.providers, tf32=tf32)
        for m in options
    ]
    estimates = [fastest_fitting(same_gpu, c.min_headroom_gb) for same_gpu in zip(*per_option, strict=True)]
    excluded = dict.fromkeys(("vram", "speed", "price", "unpriced"), 0)
    kept: list[Estimate] = []
    for e in estimates:
        reason = None
        if e.headroom_gb < c.min_headroom_gb:
            reason = "vram"
        elif c.max_s_per_image is not None and e.s_per_image > c.max_s_per_image:
            reason = "speed"
        elif e.usd_per_hour is None and (c.require_price or c.max_usd_per_hour is not None):
            reason = "unpriced"
        elif c.max_usd_per_hour is not None and e.usd_per_hour is not None and e.usd_per_hour > c.max_usd_per_hour:
            reason = "price"
        if reason:
            excluded[reason] += 1
        else:
            kept.append(e)
    if not kept:
        words = _describe(c)
        parts = [f"{n} {words[k]}" for k, n in excluded.items() if n]
        raise NoGpuFits(
            f"no GPU meets the constraints for {workload.model} {workload.task} {workload.resolution} "
            f"{workload.steps} steps batch {workload.images_per_call} {workload.dtype} "
            f"memory={'auto (fastest that fits)' if memory_auto else workload.memory}: "
            f"of {len(estimates)} GPUs, {'; '.join(parts)}. Relax a constraint"
            + (", or try another --dtype" if memory_auto else ", or try --memory auto or another --dtype")
        )
    return sorted(kept, key=lambda e: (e.usd_per_1k_images is None, e.usd_per_1k_images or 0.0, e.s_per_image))


@dataclass(frozen=True)
class GuideVramCheck:
    """One row of the guide's VRAM table beside kbench's estimates per dtype and memory option."""

    row: GuideVram
    estimates_gib: dict[tuple[str, str], float]  # (dtype, memory) -> estimated peak GiB
    holds_under: list[tuple[str, str]]

    @property
    def verdict(self) -> str:
        if self.holds_under:
            opts = ", ".join(f"{d} + {m}" for d, m in self.holds_under)
            return f"holds under {opts}"
        (d, m), gib = min(self.estimates_gib.items(), key=lambda kv: kv[1])
        return f"cannot hold: the smallest estimate is {gib:.1f} GB ({d} + {m})"


def check_guide_vram(catalog: Catalog) -> list[GuideVramCheck]:
    """Estimate each guide row in fp16 and fp32 under every memory option and say where its figure holds.

    Each dtype is counted as it runs: fp32 is not twice the fp16 count, since an fp16 pipeline already keeps some
    modules in fp32 (T5's ``wo`` layers, an upcast VAE decode) and fp32 convolutions hold more workspace
    (:mod:`bench.cost.vram`).
    """
    out: list[GuideVramCheck] = []
    for row in catalog.guide_vram:
        width, height = parse_resolution(row.resolution)
        estimates: dict[tuple[str, str], float] = {}
        for dtype in ("fp16", "fp32"):
            w = Workload(model=row.model, task="text2img", width=width, height=height, steps=1, dtype=dtype)
            profile = profile_workload(w)
            for memory in VRAM_MEMORY_OPTIONS:
                estimates[(dtype, memory)] = estimate_vram(profile, memory).total_gib
        holds = [k for k, v in estimates.items() if v <= row.vram_gb]
        out.append(GuideVramCheck(row=row, estimates_gib=estimates, holds_under=holds))
    return out


__all__ = [
    "Constraints",
    "GuideVramCheck",
    "NoGpuFits",
    "check_guide_vram",
    "fastest_fitting",
    "recommend",
]

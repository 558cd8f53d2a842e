"""The cache axis: diffusers' cache hooks on a transformer denoiser (``enable_cache`` of ``CacheMixin``).

``first_block`` reuses the rest of the blocks' residual while the first block's output changes by less than
``cache_threshold``; ``faster_cache`` and ``pab`` (pyramid attention broadcast) recompute attention every
``cache_skip_range``-th step and reuse it in between. All three change the computation: the quality guard
is expected to see it.
"""

from __future__ import annotations

from typing import Any

from bench.models.quiet_import import import_diffusers
from bench.optimise.parts import NotApplicable, class_name, denoisers
from bench.spec import Optimisation


def _config(opt: Optimisation, pipe: Any, guidance_distilled: bool) -> Any:
    diffusers = import_diffusers()

    def current_timestep() -> Any:
        return getattr(pipe, "_current_timestep", None)

    if opt.cache == "first_block":
        return diffusers.FirstBlockCacheConfig(threshold=opt.cache_threshold)
    if opt.cache == "faster_cache":
        return diffusers.FasterCacheConfig(
            spatial_attention_block_skip_range=opt.cache_skip_range,
            current_timestep_callback=current_timestep,
            is_guidance_distilled=guidance_distilled,
        )
    return diffusers.PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=opt.cache_skip_range, current_timestep_callback=current_timestep
    )


def enable_cache(pipes: dict[str, Any], opt: Optimisation) -> str:
    """Enable the cache on the denoiser of every pipeline that has one."""
    done = []
    for pipe in pipes.values():
        for attr, module in denoisers({"p": pipe}):
            if not hasattr(module, "enable_cache"):
                raise NotApplicable(f"cache {opt.cache}: {attr} {class_name(module)} has no diffusers cache hooks")
            # FLUX embeds its guidance (no unconditional batch half for FasterCache to skip)
            distilled = class_name(module).startswith("Flux")
            module.enable_cache(_config(opt, pipe, distilled))
            done.append(attr)
    return f"cache {opt.cache}: {', '.join(done)}.enable_cache({opt.non_default()})"


__all__ = ["enable_cache"]

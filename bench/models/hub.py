"""``hub`` weights, loaded as a user's own script would load them, with what was loaded on record.

A hub id is resolved to a local snapshot first (``DiffusionPipeline.download``: the files ``from_pretrained``
would fetch, safetensors only), so download time is measured apart from load time and the snapshot's commit
hash is the revision on record; a local directory is used as it is (no revision). Weights go straight to the
GPU where diffusers can place them (``device_map``), else they are moved after loading.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ModelError
from bench.models.quiet_import import import_diffusers


@dataclass
class HubLoads:
    """What the hub loads of one run cost and came from: seconds spent downloading, revision per role."""

    download_s: float = 0.0
    revisions: dict[str, str | None] = field(default_factory=dict)


def _is_local(location: str) -> bool:
    return location.startswith((".", "/", "~")) or Path(location).exists()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def resolve(location: str, role: str, loads: HubLoads) -> str:
    """A local directory for ``location``: itself, or the downloaded snapshot of a hub id (timed, revision kept)."""
    if _is_local(location):
        directory = Path(location).expanduser()
        if not directory.is_dir():
            raise ModelError(f"hub: {location!r} is not a directory with a saved pipeline (model_index.json)")
        loads.revisions[role] = None
        return str(directory)
    DiffusionPipeline = import_diffusers().DiffusionPipeline

    started = time.perf_counter()
    try:
        snapshot = Path(DiffusionPipeline.download(location, use_safetensors=True))
    except Exception as exc:  # offline, unknown repository, gated model: one line, never a traceback
        raise ModelError(f"hub: cannot fetch {location!r} ({_first_line(exc)})") from None
    loads.download_s += time.perf_counter() - started
    loads.revisions[role] = snapshot.name if snapshot.parent.name == "snapshots" else None
    return str(snapshot)


def _device_map(device: str) -> str | None:
    """The ``device_map`` that loads a pipeline straight onto ``device``, where diffusers supports one."""
    import_diffusers()
    from diffusers.pipelines.pipeline_utils import SUPPORTED_DEVICE_MAP

    kind = device.split(":")[0]
    return kind if kind != "cpu" and kind in SUPPORTED_DEVICE_MAP and device in (kind, f"{kind}:0") else None


def load_pipeline(
    cls: Any, location: str, role: str, dtype: Any, device: str, loads: HubLoads, **components: Any
) -> Any:
    """``cls.from_pretrained`` of a resolved location: safetensors only, no remote code.

    ``components`` are passed as already-built components (shared with another pipeline).
    """
    directory = resolve(location, role, loads)
    device_map = _device_map(device) if not components else None  # shared modules already have a place
    try:
        pipe = cls.from_pretrained(
            directory, torch_dtype=dtype, use_safetensors=True, device_map=device_map, **components
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"hub: cannot load {location!r} ({_first_line(exc)})") from None
    return pipe.to(device) if device != "cpu" and device_map is None else pipe

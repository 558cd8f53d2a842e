"""One small optimisation sweep shared by the tests: tiny FLUX.1-schnell on the CPU, 64x64, 2 steps.

Measured in-process by the child's ``execute`` (the same code a sweep's child runs), baseline first so each
cell's images are compared with it; the records are appended to a real results file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measure.child import execute
from bench.results import RunRecord, append_record
from bench.spec import Optimisation
from tests.factories import tiny_spec

FLUX = {"model": "flux.1-schnell", "guidance_scale": 0.0, "steps": 2, "warmup": 0, "repeats": 1, "max_repeats": 1}
CELLS = {
    "baseline": Optimisation(),
    "sdpa-math": Optimisation(attention="sdpa-math"),
    "sdpa-flash": Optimisation(attention="sdpa-flash"),
    "sdpa-efficient": Optimisation(attention="sdpa-efficient"),
    "channels_last": Optimisation(channels_last=True),
    "vae_tiling": Optimisation(vae_tiling=True),
    "vae_slicing": Optimisation(vae_slicing=True),
    "first_block": Optimisation(cache="first_block", cache_threshold=0.9),
    "int8": Optimisation(quantization="int8-weight-only"),
    "tf32": Optimisation(tf32=True),
}


class Sweep:
    def __init__(self, records: dict[str, RunRecord], results: Path, images: Path) -> None:
        self.records, self.results, self.images = records, results, images


@pytest.fixture(scope="session")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    root = tmp_path_factory.mktemp("optimise-sweep")
    images, results = root / "images", root / "optimise.jsonl"
    records = {}
    for name, cell in CELLS.items():
        record = execute(tiny_spec(**FLUX, optimise=cell), images_dir=images)
        append_record(results, record)
        records[name] = record
    return Sweep(records, results, images)

"""Which workloads the report's deployment-guide tables answer for, and their estimates.

The tables are meant to answer the guide's questions (how long an image takes, how much VRAM it needs, what
it costs on each rented GPU), so they are computed at the guide's workloads, whatever the runs were: a smoke
run of tiny weights on a CPU says nothing about a full-size model and is never projected. Full-size GPU runs
(``hub`` or ``random`` weights) add their own workloads and measure the cells of the GPU they ran on.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.cost.catalog import Catalog
from bench.cost.guide import real_gpu_records
from bench.cost.projection import Estimate, MeasuredIndex, estimate_workload, measured_index, workload_key
from bench.results import RunRecord
from bench.spec import MEMORY_OPTIONS, Workload

# The Kandinsky deployment guide (https://docs.clore.ai/guides/guides_v2-de/andere-workloads/kandinsky, 2024;
# its figures are in bench/data/gpus.yaml under published_timings and guide_vram): on an RTX 4090 Kandinsky 2.2
# takes about 8 s per 768x768 image (5 s at 512x512) and Kandinsky 3 about 15 s at its default 1024x1024
# (10 s at 512x512); VRAM 8 GB for Kandinsky 2.2, 12 GB for Kandinsky 3 and 16 GB for Kandinsky 3 at high
# resolution. The report's tables cover those sizes, plus Kandinsky 2.2 at 1024x1024: text-to-image, 50 steps,
# fp16, one image per call, under each memory option.
GUIDE_SIZES = (
    ("kandinsky-2.2", 512),
    ("kandinsky-2.2", 768),
    ("kandinsky-2.2", 1024),
    ("kandinsky-3", 512),
    ("kandinsky-3", 1024),
)
GUIDE_STEPS = 50
GUIDE_DTYPE = "fp16"
# Every option the VRAM estimate and the projection model support (bench.cost.vram, bench.cost.projection); the
# projection treats attention slicing like ``none`` (attention is counted as one fused kernel).
GUIDE_MEMORY_OPTIONS = MEMORY_OPTIONS

GUIDE_WORKLOADS: tuple[tuple[str, Workload], ...] = tuple(
    (
        f"guide:{model}:{side}x{side}:{memory}",
        Workload(
            model=model,
            task="text2img",
            width=side,
            height=side,
            steps=GUIDE_STEPS,
            batch_size=1,
            dtype=GUIDE_DTYPE,
            memory=memory,
        ),
    )
    for model, side in GUIDE_SIZES
    for memory in GUIDE_MEMORY_OPTIONS
)
"""(name, workload) pairs in table order: by model and size, then memory option."""


def report_workloads(records: Sequence[RunRecord]) -> list[tuple[str, Workload]]:
    """The guide workloads, then each ok full-size GPU record's workload not among them (first record's key)."""
    out = list(GUIDE_WORKLOADS)
    seen = {workload_key(w) for _, w in out}
    for record in real_gpu_records(records):
        if not record.ok:
            continue
        w = Workload.from_spec(record.spec)
        if workload_key(w) not in seen:
            seen.add(workload_key(w))
            out.append((record.run_key, w))
    return out


def answer_workloads(records: Sequence[RunRecord]) -> list[Workload]:
    """The report's "which GPU" workloads: each report workload once, its memory option left to the answer.

    The answer picks the fastest memory option that fits each GPU (as ``kbench recommend --memory auto``), so
    workloads that differ only in their memory option are one question.
    """
    out: dict[tuple[object, ...], Workload] = {}
    for _, w in report_workloads(records):
        plain = w.with_(memory="none")
        out.setdefault(workload_key(plain), plain)
    return list(out.values())


def guide_estimates(records: Sequence[RunRecord], catalog: Catalog, gpu_ids: list[str] | None = None) -> list[Estimate]:
    """One :class:`~bench.cost.projection.Estimate` per (report workload x GPU), measured where a record ran it.

    Only full-size GPU records measure or calibrate: tiny-weight and CPU records are left out of the index
    even when the CPU run's machine had a GPU (its ``gpu_name`` says nothing about this run).
    """
    index = MeasuredIndex(measured_index(real_gpu_records(records), catalog))
    out: list[Estimate] = []
    for name, w in report_workloads(records):
        out.extend(estimate_workload(w, catalog, index, gpu_ids, run_key=name))
    return out


__all__ = [
    "GUIDE_DTYPE",
    "GUIDE_MEMORY_OPTIONS",
    "GUIDE_SIZES",
    "GUIDE_STEPS",
    "GUIDE_WORKLOADS",
    "answer_workloads",
    "guide_estimates",
    "report_workloads",
]

"""Rank an optimisation sweep's cells per model and device: speed, cost, compile cost, memory and quality.

Pure functions of records and the GPU catalog. Every $ figure comes from the one cost function
(:func:`bench.cost.costs.cost_rows`): the steady figure leaves start-up out (a warm server); the session
figure pays the record's load, its warmup calls and, for a compiled cell, the compile call (the first call
after compiling is kept as the first warmup call), over ``session_images`` images.

A compiled cell's break-even is the number of images after which its session costs less time than the
uncompiled cell of the same workload (the same run with ``compile: none``):
``(overhead_compiled - overhead_plain) / (s_plain - s_compiled)``, in images, with overhead = load + warmup
(+ compile) seconds as the cost function counts it.

A speed-up is the baseline cell's median s/image over the cell's, with the interval ``kbench compare`` puts on a
ratio of medians (:func:`bench.compare.stats.compare_samples`, on each side's per-image samples). It is *within
noise* where that interval includes 1x, or where a side has fewer samples than any data could tell from 1x at
that confidence (:func:`~bench.compare.stats.min_samples_for`: 4 at 95%, so a sweep needs ``repeats: 4``; at 3
even a cell whose every call beats every baseline call has a rank-test p of 2 / C(6, 3) = 0.10). Each interval
is a 95% one of its own cell against the baseline: the ranking judges no gate, so it is not widened for the
number of cells, and up to one neutral cell in twenty (2 in 70 at 4 calls a side) shows an interval that
excludes 1x by chance. Each cell is one process, so the interval holds the noise between its calls, not between
processes (the machine's other load, placement).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.compare.stats import CONFIDENCE, SampleSize, compare_samples
from bench.cost.catalog import Catalog
from bench.cost.costs import CostRow, Session, cost_rows, record_overhead_s
from bench.results import RunRecord
from bench.results.peak import peak_memory
from bench.spec import RunSpec

BASELINE_LABEL = "baseline"


def workload_key(spec: RunSpec) -> str:
    """The run key without its ``opt=`` part: what the cells of one workload share."""
    part = spec.optimise.key_part
    return spec.run_key.removesuffix("|" + part) if part else spec.run_key


SHORT_PREFIXES = ("attention-", "cache-", "quantization-")  # their values name themselves (sdpa-math, fp8)


def setting_label(spec: RunSpec) -> str:
    """The cell's settings as the ranking shows them (``baseline`` for every axis at its default).

    The key part without ``opt=`` and without the axis name where the value says it: ``sdpa-math,first_block@0.05``.
    """
    part = spec.optimise.key_part
    if not part:
        return BASELINE_LABEL
    items = part.removeprefix("opt=").split(",")
    return ",".join(next((i.removeprefix(p) for p in SHORT_PREFIXES if i.startswith(p)), i) for i in items)


def uncompiled_key(spec: RunSpec) -> str:
    opt = spec.optimise.model_copy(update={"compile": "none", "compile_vae": False})
    return spec.model_copy(update={"optimise": opt}).run_key


@dataclass(frozen=True)
class Speedup:
    """Baseline s/image over the cell's (median of each), with its interval and whether it can be told from 1x."""

    ratio: float
    low: float
    high: float
    n_baseline: int  # per-image samples of the baseline cell
    n_cell: int
    method: str  # "bootstrap" (percentile, over calls) or "range" (4 calls a side or fewer: min/max ratio)
    confidence: float = CONFIDENCE

    @property
    def size(self) -> SampleSize:
        return SampleSize(self.n_baseline, self.n_cell)

    @property
    def noise(self) -> str | None:
        """Why the speed-up cannot be told from 1x (too few samples, or an interval across 1x); None if it can."""
        if not self.size.judged(self.confidence):
            return self.size.note(self.confidence)
        if self.low <= 1.0 <= self.high:
            return f"the {self.confidence:.0%} interval includes 1x"
        return None


def _samples(record: RunRecord) -> list[float]:
    if record.timing is not None and record.timing.per_image_s:
        return list(record.timing.per_image_s)
    return [record.summary.median_s_per_image] if record.summary is not None else []


def speedup(base: RunRecord, cell: RunRecord, confidence: float = CONFIDENCE) -> Speedup | None:
    """The cell's speed-up over the baseline cell from their per-image samples; None without samples on a side."""
    base_s, cell_s = _samples(base), _samples(cell)
    try:  # the ratio current / baseline of compare_samples, with the cell as "baseline": base s over cell s
        t = compare_samples(cell_s, base_s, 0.0, confidence=confidence)
    except ValueError:
        return None
    return Speedup(t.ratio, t.ci_low, t.ci_high, t.n_current, t.n_baseline, t.method, confidence)


@dataclass(frozen=True)
class RankRow:
    """One cell of the ranking."""

    group: str  # model and device the ranking is per
    workload: str
    setting: str
    status: str
    reason: str | None = None
    s_per_image: float | None = None
    speedup: float | None = None  # baseline s/image over this cell's
    speedup_ci: Speedup | None = None  # its interval and noise verdict (None for the baseline cell itself)
    usd_per_1k: float | None = None  # steady state: start-up excluded
    usd_per_1k_session: float | None = None  # load + warmup + compile paid over the session's images
    session_images: int = 0
    compile_s: float | None = None
    recompiles: int | None = None
    break_even_images: float | None = None  # inf: compiling never pays off; None: not a compiled cell
    peak_memory_mb: float | None = None
    memory_kind: str = ""
    psnr_db: float | None = None  # the worst image's; inf for identical images
    ssim: float | None = None
    flagged: bool = False  # PSNR below the threshold: "quality changed"
    quality_note: str | None = None
    pareto: bool = False


def break_even(compiled: RunRecord, plain: RunRecord) -> float | None:
    """Images after which the compiled cell's session time drops below the uncompiled one's (inf: never)."""
    if compiled.summary is None or plain.summary is None:
        return None
    s_c, s_u = compiled.summary.median_s_per_image, plain.summary.median_s_per_image
    extra = record_overhead_s(compiled) - record_overhead_s(plain)
    if extra <= 0:
        return 0.0 if s_c <= s_u else math.inf
    return extra / (s_u - s_c) if s_u > s_c else math.inf


def pareto_cells(points: Sequence[tuple[float, float]]) -> set[int]:
    """Indices of cells no other cell beats on both speed (lower s/image) and quality (higher PSNR)."""
    front = set()
    for i, (s, q) in enumerate(points):
        beaten = any((s2 <= s and q2 >= q) and (s2 < s or q2 > q) for j, (s2, q2) in enumerate(points) if j != i)
        if not beaten:
            front.add(i)
    return front


def rank(
    records: Sequence[RunRecord],
    catalog: Catalog,
    *,
    session_images: int = 1000,
    gpu_id: str | None = None,
    threshold_db: float | None = None,
) -> list[RankRow]:
    """The ranking rows, per model and device, fastest first; failed and skipped cells last with their reason.

    ``threshold_db`` re-judges "quality changed" (default: the threshold each run was recorded with).
    """
    latest: dict[str, RunRecord] = {r.run_key: r for r in records}  # a rerun replaces an earlier record
    costs: dict[str, CostRow] = {
        c.run_key: c
        for c in cost_rows(list(latest.values()), catalog, gpu_id=gpu_id, session=Session(images=session_images))
    }
    rows: list[RankRow] = []
    for key, record in latest.items():
        spec = record.spec
        group = f"{spec.model} on {record.env.get('gpu_name') or spec.device}"
        if not record.ok or record.summary is None:
            rows.append(RankRow(group, workload_key(spec), setting_label(spec), record.status, record.reason))
            continue
        base = latest.get(workload_key(spec))
        s = record.summary.median_s_per_image
        cost = costs.get(key)
        opt = record.optimise
        quality = opt.quality if opt else None
        psnr = math.inf if base is record else (quality.psnr_min if quality else None)
        limit = threshold_db if threshold_db is not None else (quality.threshold_db if quality else 30.0)
        plain = latest.get(uncompiled_key(spec)) if spec.optimise.compile != "none" else None
        ci = speedup(base, record) if base is not None and base.ok and base is not record else None
        peak = peak_memory(record)
        rows.append(
            RankRow(
                group=group,
                workload=workload_key(spec),
                setting=setting_label(spec),
                status=record.status,
                s_per_image=s,
                speedup=ci.ratio
                if ci
                else (base.summary.median_s_per_image / s if base and base.summary and s > 0 else None),
                speedup_ci=ci,
                usd_per_1k=cost.usd_per_1k_images if cost else None,
                usd_per_1k_session=cost.usd_per_1k_images_amortised if cost else None,
                session_images=session_images,
                compile_s=opt.compile_s if opt else None,
                recompiles=opt.recompiles if opt else None,
                break_even_images=break_even(record, plain) if plain is not None else None,
                peak_memory_mb=peak.mb if peak else None,
                memory_kind=peak.kind if peak else "",
                psnr_db=psnr,
                ssim=1.0 if base is record else (quality.ssim_min if quality else None),
                flagged=psnr is not None and psnr < limit,
                quality_note=quality.note if quality else None,
            )
        )
    return _order_and_mark(rows)


def _order_and_mark(rows: list[RankRow]) -> list[RankRow]:
    """Sort per group and workload (fastest first, unmeasured last); mark each one's Pareto front of speed vs PSNR."""
    out: list[RankRow] = []
    for group, workload in sorted({(r.group, r.workload) for r in rows}):
        members = [r for r in rows if r.group == group and r.workload == workload]
        measured = sorted((r for r in members if r.s_per_image is not None), key=lambda r: r.s_per_image or 0.0)
        scored = [r for r in measured if r.psnr_db is not None]
        front = pareto_cells([(r.s_per_image or 0.0, r.psnr_db or 0.0) for r in scored])
        on_front = {id(scored[i]) for i in front}
        out.extend(replace(r, pareto=id(r) in on_front) for r in measured)
        out.extend(r for r in members if r.s_per_image is None)
    return out


__all__ = [
    "BASELINE_LABEL",
    "RankRow",
    "Speedup",
    "break_even",
    "pareto_cells",
    "rank",
    "setting_label",
    "speedup",
    "workload_key",
]

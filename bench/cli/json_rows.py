"""The ``--json`` rows of ``run``, ``history``, ``baseline show``, ``optimise-report``, ``sky plan``, ``sky collect``
and ``models`` (the document around them: :func:`bench.cli.json_doc.document`; their shapes: docs/json-output.md).

Every quantity is a figure with its unit and where it comes from (``measured`` from result records, ``projected``
by the roofline, ``counted`` on the meta device, ``computed`` from those); counts stay integers. Text read from
result files (run keys, commits, reasons) is passed through as data: JSON escapes it, no terminal sees it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.cli.json_doc import Label, figure

if TYPE_CHECKING:
    from pathlib import Path

    from bench.compare.baseline import BaselineMeta, BaselineRow
    from bench.compare.engine import RunComparison
    from bench.history import HistoryReport
    from bench.models.saved_pipeline import DirectoryCheck
    from bench.models.types import ModelSpec
    from bench.optimise.ranking import RankRow
    from bench.results import RunRecord
    from bench.sky.accelerators import SkyAccelerator
    from bench.sky.campaign import GpuCampaign, Span
    from bench.sky.collect import Collected


def _change(ratio: float | None, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    """A ratio of two times as a figure (1.05: 5% slower), with its interval when there is one."""
    interval = [low, high] if low is not None and high is not None else None
    return figure(ratio, "ratio", "computed", interval=interval)


def rolling_json(rolling: RunComparison | None) -> dict[str, Any] | None:
    """The newest point against the points before it (``history --baseline last:N``)."""
    if rolling is None:
        return None
    t = rolling.time
    return {
        "verdict": rolling.verdict,
        "regression": rolling.is_regression,
        "change": _change(t.ratio, t.ci_low, t.ci_high) if t else None,
        "confidence": t.confidence if t else None,
        "n_baseline": t.n_baseline if t else None,
        "n_current": t.n_current if t else None,
        "too_few_samples": rolling.too_few_samples,
        "notes": list(rolling.notes),
    }


def run_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per run of a sweep: its workload, status (and reason), and what it measured on its device."""
    from bench.results.peak import peak_memory

    out = []
    for r in records:
        s, summary, peak = r.spec, r.summary, peak_memory(r)
        out.append(
            {
                "run_key": r.run_key,
                "model": s.model,
                "task": s.task,
                "language": s.language,
                "resolution": s.resolution,
                "steps": s.steps,
                "batch": f"{s.batch_size}x{s.images_per_prompt}",
                "dtype": s.dtype,
                "memory": s.memory,
                "device": s.device,
                "weights": s.weights,
                "status": r.status,
                "reason": r.reason,
                "samples": summary.n if summary else 0,
                "s_per_image": figure(summary.median_s_per_image if summary else None, "s/image", "measured"),
                "p90_s_per_image": figure(summary.p90_s_per_image if summary else None, "s/image", "measured"),
                "images_per_s": figure(summary.images_per_s if summary else None, "images/s", "measured"),
                "peak_memory": figure(peak.mb if peak else None, "MB", "measured", basis=peak.basis if peak else None),
            }
        )
    return out


def history_rows(report: HistoryReport) -> list[dict[str, Any]]:
    """One row per run key: its points over time, the steps found, and the verdicts on the newest point."""
    return [
        {
            "run_key": s.run_key,
            "points": [
                {
                    "commit": p.commit,
                    "time": p.time,
                    "median_s_per_image": figure(p.median_s, "s/image", "measured"),
                    "samples": p.n_samples,
                }
                for p in s.points
            ],
            "steps": [
                {
                    "index": st.index,
                    "commit": st.commit,
                    "time": st.time,
                    "before": figure(st.before_s, "s/image", "measured"),
                    "after": figure(st.after_s, "s/image", "measured"),
                    "change": _change(st.after_s / st.before_s if st.before_s else None),
                }
                for st in s.steps
            ],
            "newest_change": s.newest_change,
            "newest_step_not_judged": s.step_not_judged,
            "new_regression": s.new_regression,
            "rolling": rolling_json(s.rolling),
        }
        for s in report.series
    ]


def baseline_source(meta: BaselineMeta | None, path: Path) -> dict[str, Any]:
    """Where a baseline's rows come from: its file and the metadata saved beside it (None fields without one)."""
    return {
        "path": str(path),
        "created_at": meta.created_at if meta else None,
        "kbench_version": meta.kbench_version if meta else None,
        "sources": list(meta.sources) if meta else [],
        "environments": [dict(e) for e in meta.environments] if meta else [],
    }


def baseline_rows(rows: Sequence[BaselineRow]) -> list[dict[str, Any]]:
    return [
        {
            "run_key": r.run_key,
            "status": r.status,
            "samples": r.n_samples,
            "median_s_per_image": figure(r.median_s_per_image, "s/image", "measured"),
            "vram_peak": figure(r.vram_peak_mb, "MB", "measured"),
            "energy_per_image": figure(r.energy_j_per_image, "J/image", "measured"),
        }
        for r in rows
    ]


def _never(value: float | None) -> bool:
    return value is not None and math.isinf(value)


def _finite(value: float | None) -> float | None:
    return None if _never(value) else value


def optimise_rows(rows: Sequence[RankRow]) -> list[dict[str, Any]]:
    """One row per cell of an optimisation sweep, in rank order within its model/device group."""
    out = []
    for r in rows:
        ci = r.speedup_ci
        out.append(
            {
                "group": r.group,
                "workload": r.workload,
                "setting": r.setting,
                "status": r.status,
                "reason": r.reason,
                "s_per_image": figure(r.s_per_image, "s/image", "measured"),
                "speedup": figure(r.speedup, "x", "computed", interval=[ci.low, ci.high] if ci else None),
                "speedup_method": ci.method if ci else None,
                "usd_per_1k_images": figure(r.usd_per_1k, "USD/1000 images", "computed"),
                "session_usd_per_1k_images": figure(r.usd_per_1k_session, "USD/1000 images", "computed"),
                "session_images": r.session_images,
                "compile_s": figure(r.compile_s, "s", "measured"),
                "recompiles": r.recompiles,
                "break_even_images": figure(_finite(r.break_even_images), "images", "computed"),
                "compile_never_pays_off": _never(r.break_even_images),
                "peak_memory": figure(r.peak_memory_mb, "MB", "measured"),
                "peak_memory_kind": r.memory_kind or None,
                "psnr": figure(_finite(r.psnr_db), "dB", "measured"),
                "identical_images": _never(r.psnr_db),
                "ssim": figure(r.ssim, "SSIM", "measured"),
                "quality_changed": r.flagged,
                "quality_note": r.quality_note,
                "pareto": r.pareto,
            }
        )
    return out


def _span(span: Span | None, unit: str) -> dict[str, Any]:
    if span is None:
        return figure(None, unit, "projected")
    return figure(span.mid, unit, "projected", interval=[span.low, span.high])


def sky_plan_rows(
    campaigns: Sequence[GpuCampaign],
    accels: dict[str, SkyAccelerator],
    files: dict[str, Path],
    launches: dict[str, list[str]],
    price_labels: dict[str, Label],
) -> list[dict[str, Any]]:
    """One row per candidate GPU: the machine asked for, the runs, the projected minutes and dollars, the task
    (``price_labels``: ``live`` where the price came from the price cache, else ``catalog``)."""
    return [
        {
            "gpu": c.gpu_id,
            "gpu_name": c.gpu_name,
            "accelerator": accels[c.gpu_id].resources,
            "gpus": c.gpus,
            "runs": c.runs,
            "oom_runs": c.oom_runs,
            "measured_runs": c.measured_runs,
            "setup": figure(c.setup_minutes, "min", "computed"),
            "minutes": _span(c.minutes, "min"),
            "usd_per_hour": figure(c.usd_per_hour, "USD/instance-hour", price_labels.get(c.gpu_id, "catalog")),
            "price_provider": c.price_provider,
            "price_date": c.price_date,
            "usd": _span(c.usd, "USD"),
            "task_file": str(files[c.gpu_id]),
            "launch": launches[c.gpu_id],
        }
        for c in campaigns
    ]


def sky_collect_rows(done: Collected, directory: Path) -> list[dict[str, Any]]:
    return [
        {
            "file": str(f.path.relative_to(directory)),
            "records": f.records,
            "repeats": f.duplicates,
            "statuses": dict(sorted(f.statuses.items())),
            "gpus": sorted(f.gpus),
        }
        for f in done.files
    ]


def model_rows(models: Sequence[ModelSpec]) -> list[dict[str, Any]]:
    """The registry: tasks, defaults and prompt languages of each model (settings, not measurements)."""
    return [
        {
            "id": m.id,
            "name": m.display_name,
            "tasks": list(m.tasks),
            "default_resolution": f"{m.default_resolution[0]}x{m.default_resolution[1]}",
            "default_steps": m.default_steps,
            "default_guidance": m.default_guidance,
            "resolution_multiple": m.resolution_multiple,
            "prompt_languages": [k for k, v in m.multilingual.items() if v],
        }
        for m in models
    ]


def check_rows(result: DirectoryCheck) -> list[dict[str, Any]]:
    """``models --check``: each component of the saved pipeline beside the registered one (counted on meta)."""
    registered, built = result.registered.by_key(), result.built.by_key()
    rows = []
    for key in [*registered, *(k for k in built if k not in registered)]:
        got, reg = built.get(key), registered.get(key)
        rows.append(
            {
                "component": "/".join(key),
                "class": got.class_name if got else None,
                "parameters": figure(got.parameters if got else None, "parameters", "counted"),
                "registered_class": reg.class_name if reg else None,
                "registered_parameters": figure(reg.parameters if reg else None, "parameters", "counted"),
                "config_hash": got.config_hash if got else None,
                "same_config": got is not None and reg is not None and got.config_hash == reg.config_hash,
            }
        )
    return rows


__all__ = [
    "baseline_rows",
    "baseline_source",
    "check_rows",
    "history_rows",
    "model_rows",
    "optimise_rows",
    "rolling_json",
    "sky_collect_rows",
    "sky_plan_rows",
]

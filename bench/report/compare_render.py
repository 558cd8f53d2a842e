"""Rendering of a :class:`~bench.compare.engine.CompareReport`: cells, a markdown job summary, JSON-ready data.

Strings and plain data only; the CLI writes them. The terminal table in ``bench/cli/commands_compare.py``
reuses the cell formatters so the three renderings agree. This module imports from :mod:`bench.compare`,
never the reverse.
"""

from __future__ import annotations

from typing import Any

from bench.compare.engine import REPORT_SCHEMA, CompareReport
from bench.compare.stats import TimeComparison, ValueComparison
from bench.report.format import markdown_table, md_escape


def format_change(ratio: float) -> str:
    """``1.123`` -> ``+12.3%``."""
    return f"{(ratio - 1.0) * 100:+.1f}%"


def format_time_cell(t: TimeComparison) -> str:
    """Median change with its interval, e.g. ``+12.3% [+9.8%, +15.1%]``."""
    return f"{format_change(t.ratio)} [{format_change(t.ci_low)}, {format_change(t.ci_high)}]"


def format_seconds(seconds: float) -> str:
    """Three significant digits in s, ms or µs: CPU runs take microseconds, full-size GPU runs seconds."""
    if seconds >= 1.0:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def format_value_cell(v: ValueComparison) -> str:
    """``9120 -> 9480 MB (+360)``."""
    return (
        f"{v.baseline:.0f} -> {v.current:.0f} {v.unit} ({v.delta:+.0f})"
        if v.unit == "MB"
        else (f"{v.baseline:.3g} -> {v.current:.3g} {v.unit} ({format_change(v.ratio) if v.ratio else 'n/a'})")
    )


def summary_line(report: CompareReport) -> str:
    """One line: counts of regressions, improvements and the rest."""
    parts = [
        f"{len(report.regressions)} regression(s)",
        f"{len(report.improvements)} improvement(s)",
        f"{sum(1 for r in report.runs if r.verdict == 'unchanged')} unchanged",
    ]
    if n := sum(1 for r in report.runs if r.verdict == "inconclusive"):
        parts.append(f"{n} inconclusive")
    for outcome, label in (
        ("only_baseline", "only in baseline"),
        ("only_current", "new"),
        ("still_failing", "still failing"),
        ("skipped", "skipped"),
    ):
        if n := report.count(outcome):  # type: ignore[arg-type]
            parts.append(f"{n} {label}")
    return ", ".join(parts)


_VERDICT_MD = {"regression": "**REGRESSION**", "improvement": "improvement"}


def render_compare_markdown(report: CompareReport, *, title: str = "kbench compare") -> str:
    """A markdown summary for a CI job summary: verdict, environment changes, one row per run."""
    status = "FAIL" if report.has_regression else "PASS"
    lines = [f"## {md_escape(title)}: {status}", "", summary_line(report) + ".", ""]
    if report.env_changes:
        note = " (compared anyway: --allow-env-mismatch)" if any(c.blocking for c in report.env_changes) else ""
        lines += [f"**Environment differences**{note}:", ""]
        lines += [
            f"- {md_escape(c.field)}: `{c.baseline or 'unknown'}` -> `{c.current or 'unknown'}`"
            for c in report.env_changes
        ]
        lines.append("")
    conf = f"{report.confidence * 100:g}%"
    headers = ("verdict", "run", "median s/image (base -> current)", f"change [{conf} CI]", "memory / energy", "notes")
    body: list[list[str]] = []
    order = {"regression": 0, "inconclusive": 1, "improvement": 2}
    for r in sorted(report.runs, key=lambda r: order.get(r.verdict, 3)):
        if r.time is not None:
            med = f"{format_seconds(r.time.baseline_median_s)} -> {format_seconds(r.time.current_median_s)}"
            change = format_time_cell(r.time) + f" (n={r.time.n_baseline}/{r.time.n_current})"
        else:
            med = f"{r.baseline_status or '-'} -> {r.current_status or '-'}"
            change = ""
        vals = "<br>".join(
            f"{md_escape(v.field)}: {md_escape(format_value_cell(v))}"
            + (" **over limit**" if v.verdict == "regression" else "")
            for v in r.values
        )
        notes = "; ".join([*map(str, r.env_changes), *r.notes])
        if r.baseline_key:
            notes = f"baseline run {r.baseline_key}; {notes}"
        body.append(
            [
                _VERDICT_MD.get(r.verdict, r.verdict),
                md_escape(r.run_key),
                md_escape(med),
                md_escape(change),
                vals,
                md_escape(notes),
            ]
        )
    lines += markdown_table(headers, body).splitlines()
    rules = ", ".join(str(t) for t in report.thresholds)
    lines += [
        "",
        f"Thresholds: {md_escape(rules)}. A run regresses only when its whole {conf} interval is past the threshold.",
    ]
    return "\n".join(lines) + "\n"


def _time_dict(t: TimeComparison) -> dict[str, Any]:
    return {
        "baseline_median_s": t.baseline_median_s,
        "current_median_s": t.current_median_s,
        "ratio": t.ratio,
        "ci_low": t.ci_low,
        "ci_high": t.ci_high,
        "confidence": t.confidence,
        "n_baseline": t.n_baseline,
        "n_current": t.n_current,
        "method": t.method,
        "p_value": t.p_value,
        "threshold": str(t.threshold),
        "verdict": t.verdict,
    }


def report_to_dict(report: CompareReport) -> dict[str, Any]:
    """Plain JSON-ready data of the report (``schema`` names its version)."""
    return {
        "schema": REPORT_SCHEMA,
        "regression": report.has_regression,
        "summary": summary_line(report),
        "confidence": report.confidence,
        "allow_env_mismatch": report.allow_env_mismatch,
        "thresholds": [str(t) for t in report.thresholds],
        "env_changes": [
            {"field": c.field, "baseline": c.baseline, "current": c.current, "blocking": c.blocking}
            for c in report.env_changes
        ],
        "runs": [
            {
                "run_key": r.run_key,
                "baseline_key": r.baseline_key,
                "scenario": r.scenario,
                "verdict": r.verdict,
                "outcome": r.outcome,
                "baseline_status": r.baseline_status,
                "current_status": r.current_status,
                "time": _time_dict(r.time) if r.time else None,
                "values": [
                    {
                        "field": v.field,
                        "unit": v.unit,
                        "baseline": v.baseline,
                        "current": v.current,
                        "threshold": str(v.threshold),
                        "verdict": v.verdict,
                    }
                    for v in r.values
                ],
                "env_changes": [str(c) for c in r.env_changes],
                "notes": list(r.notes),
            }
            for r in report.runs
        ],
    }


__all__ = [
    "format_change",
    "format_seconds",
    "format_time_cell",
    "format_value_cell",
    "render_compare_markdown",
    "report_to_dict",
    "summary_line",
]

"""GitHub-flavoured markdown summaries of ``compare``, ``ab`` and ``history`` for a job summary or a PR comment.

Verdict first (the line a reviewer reads), then one row per run: the median change with its interval, the
processes behind each side and the noise floor measured between them; then environment differences and
events between rounds; then a small figure, referenced as an image file written beside the summary. Strings
only: the CLI writes them. Every value from a user file is escaped for a table cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bench.compare.engine import CompareReport, RunComparison
from bench.compare.noise import typical
from bench.compare.stats import min_samples_for, per_test_confidence
from bench.report.compare_render import format_seconds, format_time_cell, summary_line
from bench.report.format import markdown_table, md_escape

if TYPE_CHECKING:
    from bench.ab.report import AbReport
    from bench.history.steps import HistoryReport, SeriesResult

_VERDICT = {"regression": "**REGRESSION**", "improvement": "improvement", "inconclusive": "inconclusive"}
_ORDER = {"regression": 0, "inconclusive": 1, "improvement": 2}
MAX_ROWS = 50  # a PR comment stays readable; the rest is counted


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _runs_table(report: CompareReport, noise: dict[str, float | None], sides: tuple[str, str]) -> list[str]:
    conf = f"{report.confidence * 100:g}%"
    headers = ("verdict", "run", f"median s/image ({sides[0]} → {sides[1]})", f"change [{conf} CI]", "n", "noise")
    rows: list[list[str]] = []
    runs: list[RunComparison] = sorted(report.runs, key=lambda r: _ORDER.get(r.verdict, 3))
    for r in runs[:MAX_ROWS]:
        if r.time is not None:
            med = f"{format_seconds(r.time.baseline_median_s)} → {format_seconds(r.time.current_median_s)}"
            change, n = format_time_cell(r.time), f"{r.time.n_baseline}/{r.time.n_current}"
        else:
            med, change, n = f"{r.baseline_status or '-'} → {r.current_status or '-'}", "", ""
        notes = "; ".join(r.notes)
        verdict = _VERDICT.get(r.verdict, r.verdict) + (f" ({md_escape(notes)})" if notes else "")
        rows.append([verdict, md_escape(r.run_key), md_escape(med), md_escape(change), n, _pct(noise.get(r.run_key))])
    lines = markdown_table(headers, rows).splitlines()
    if len(runs) > MAX_ROWS:
        lines += ["", f"… and {len(runs) - MAX_ROWS} more run(s) (see the JSON output)."]
    return lines


def _noise_line(noise: dict[str, float | None], report: CompareReport) -> str:
    floor = typical(noise)
    rules = ", ".join(str(t) for t in report.thresholds if t.metric == "median") or "median:5%"
    if floor is None:
        measured = "not measured (one process per side; run more rounds to measure it)"
    else:
        measured = f"processes running the same code differ by {_pct(floor)} (median over runs)"
    together = ""
    if report.family > 1:
        level = per_test_confidence(report.confidence, report.family)
        together = (
            f" The {report.family} runs are judged together, each interval at {level:.2%}, so unchanged code "
            f"fails this job at most {(1 - report.confidence) / 2:.1%} of the time."
        )
    return (
        f"**Noise floor**: {measured}. A run fails only when its whole interval is past the threshold "
        f"({md_escape(rules)}).{together}"
    )


def _env_lines(report: CompareReport) -> list[str]:
    if not report.env_changes:
        return []
    return [
        "**Environment differences**:",
        "",
        *(
            f"- {md_escape(c.field)}: `{c.baseline or 'unknown'}` → `{c.current or 'unknown'}`"
            for c in report.env_changes
        ),
        "",
    ]


def _figure(figure: str | None, alt: str) -> list[str]:
    return [f"![{md_escape(alt)}]({figure})", ""] if figure else []


def render_compare_summary(
    report: CompareReport, noise: dict[str, float | None], *, figure: str | None = None, title: str = "kbench compare"
) -> str:
    """Markdown for ``kbench compare --summary``: verdict, runs, noise floor, environment, figure."""
    status = "FAIL" if report.has_regression else "PASS"
    lines = [f"### {md_escape(title)}: {status} — {md_escape(summary_line(report))}", ""]
    lines += [*_runs_table(report, noise, ("baseline", "current")), ""]
    lines += [_noise_line(noise, report), ""]
    lines += _env_lines(report)
    lines += _figure(figure, "median change per run with its interval")
    return "\n".join(lines).rstrip() + "\n"


def _order_text(order: Sequence[tuple[int, str]]) -> str:
    rounds: dict[int, list[str]] = {}
    for rnd, side in order:
        letter = "A" if side == "base" else "B"
        if not rounds.get(rnd) or rounds[rnd][-1] != letter:
            rounds.setdefault(rnd, []).append(letter)
    return " | ".join("".join(v) for _, v in sorted(rounds.items()))


def render_ab_summary(report: AbReport, *, figure: str | None = None, title: str = "kbench ab") -> str:
    """Markdown for ``kbench ab --summary``: verdict, runs, noise floor, parity and round events, figure."""
    cmp = report.compare
    status = "FAIL" if cmp.has_regression else "PASS"
    lines = [f"### {md_escape(title)}: {status} — head vs base: {md_escape(summary_line(cmp))}", ""]
    lines += [
        f"{report.rounds} round(s) interleaved, A = base, B = head: `{_order_text(report.order)}`; each call in a "
        "fresh process of its side.",
        "",
    ]
    lines += [*_runs_table(cmp, report.noise, ("base", "head")), ""]
    lines += [_noise_line(report.noise, cmp), ""]
    parity = report.parity
    if parity.differences:
        lines += ["**Environment differs between the sides**:", ""]
        lines += [f"- {md_escape(d)}" for d in parity.differences] + [""]
    else:
        lines += ["**Environment**: the same on both sides (GPU, driver, power limit, clocks policy, CPU, host).", ""]
    if parity.events:
        lines += ["**Changes between rounds** (doubt these measurements):", ""]
        lines += [f"- {md_escape(e)}" for e in parity.events] + [""]
    lines += _figure(figure, "median change per run with its interval")
    if report.sides:
        lines += ["<details><summary>Sides</summary>", ""]
        lines += [f"- {md_escape(s)}" for s in report.sides] + ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def _newest_cell(s: SeriesResult) -> str:
    """The newest segment against the one before: judged, or found but with too few points to judge."""
    if s.new_regression:
        return "**slower**"
    if s.new_improvement:
        return "faster"
    size = s.newest_step_size
    if s.newest_change is None or size is None:
        return "-"
    need = min_samples_for(s.confidence)
    return f"{s.newest_change}: found, not judged ({size.baseline} and {size.current} points, need {need} a side)"


def _rolling_cell(run: RunComparison | None) -> str:
    """The newest point against its rolling baseline: the verdict, or why there is none, with the interval."""
    if run is None or run.time is None:
        return "-"
    if run.too_few_samples:
        size, need = run.time.size, min_samples_for(run.time.confidence, run.time.family)
        why = f"not judged ({size.baseline} and {size.current} {size.unit}, need {need} a side)"
        return f"{why} {format_time_cell(run.time)}"
    return f"{_VERDICT.get(run.verdict, run.verdict)} {format_time_cell(run.time)}"


def render_history_summary(report: HistoryReport, *, figure: str | None = None, title: str = "kbench history") -> str:
    """Markdown for ``kbench history --summary``: new regressions first, then each series and its steps."""
    new = [s for s in report.series if s.new_regression]
    rolling = [s for s in report.series if s.rolling is not None and s.rolling.is_regression]
    status = "FAIL" if new or rolling else "PASS"
    detail = f"{len(new)} new step(s) slower, {len(rolling)} slower than the rolling baseline"
    if unjudged := sum(1 for s in report.series if s.newest_change == "slower" and s.step_not_judged is not None):
        detail += f" ({unjudged} newer slower step(s) found, not judged: too few points)"
    lines = [f"### {md_escape(title)}: {status} — {detail}, {len(report.series)} series", ""]
    headers = ("run", "points", "latest median", "steps (commit: change)", "newest segment", "rolling baseline")
    rows = []
    for s in sorted(report.series, key=lambda s: (not s.new_regression, s.run_key))[:MAX_ROWS]:
        steps = "; ".join(f"{(st.commit or '?')[:10]}: {st.change * 100:+.1f}%" for st in s.steps) or "none"
        rows.append(
            [
                md_escape(s.run_key),
                str(len(s.points)),
                format_seconds(s.points[-1].median_s),
                md_escape(steps),
                _newest_cell(s),
                md_escape(_rolling_cell(s.rolling)),
            ]
        )
    lines += [*markdown_table(headers, rows).splitlines(), ""]
    lines += [
        f"Steps: change points ({md_escape(report.method)}) kept when adjacent segments differ by at least "
        f"{report.min_effect * 100:g}%; noise measured per series.",
        "",
    ]
    lines += _figure(figure, "history of each run with its steps")
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["render_ab_summary", "render_compare_summary", "render_history_summary"]

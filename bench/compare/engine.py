"""The compare engine: two sets of result records in, a :class:`CompareReport` out; no I/O.

Records are pooled and paired by :mod:`bench.compare.pairing`; each pair gets a time comparison and value
comparisons from :mod:`bench.compare.stats`. The runs compared on time are one family: the job fails when any
of them regresses, so each interval is taken at :func:`~bench.compare.stats.per_test_confidence` of their
number, and the job as a whole is a false alarm at most ``(1 - confidence) / 2`` of the time. A run that was
ok and now fails (oom, error, timeout) is a regression. Results from a different GPU model or weight source
are refused unless explicitly allowed, since their numbers would not measure the same thing. Rendering the
report (markdown, JSON) is the report layer's job: :mod:`bench.report.compare_render`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bench.compare.pairing import BLOCKING_FIELDS, ENV_FIELDS, _group, _pair, _Side
from bench.compare.stats import (
    CONFIDENCE,
    DEFAULT_SEED,
    MIN_BOOTSTRAP_SAMPLES,
    N_RESAMPLES,
    TimeComparison,
    ValueComparison,
    _clean,
    compare_samples,
    compare_value,
    min_samples_for,
)
from bench.compare.thresholds import DEFAULT_THRESHOLDS, Metric, Threshold, ThresholdSet
from bench.errors import KbenchError
from bench.results import FAILED_STATUSES, RunRecord

# Version of the JSON form (bench.report.compare_render.report_to_dict); bump it on an incompatible change.
REPORT_SCHEMA = "kbench-compare/1"

Outcome = Literal["compared", "newly_failed", "fixed", "still_failing", "skipped", "only_baseline", "only_current"]

# Single-valued metrics: RunRecord memory/energy field -> (threshold metric, unit).
VALUE_METRICS: dict[str, tuple[Metric, str]] = {
    "vram_used_peak_mb": ("vram", "MB"),
    "torch_allocated_peak_mb": ("vram", "MB"),
    "peak_rss_mb": ("rss", "MB"),
    "energy_j_per_image": ("energy", "J"),
}


class NothingToCompare(KbenchError):
    """The two sides share no run, or one of them is empty."""


class EnvironmentMismatch(KbenchError):
    """Baseline and current were measured on a different GPU model or from a different weight source."""


@dataclass(frozen=True)
class EnvChange:
    """One environment field that differs between the baseline and current run of a pair."""

    field: str
    baseline: str | None
    current: str | None

    @property
    def blocking(self) -> bool:
        return self.field in BLOCKING_FIELDS and None not in (self.baseline, self.current)

    def __str__(self) -> str:
        return f"{self.field}: {self.baseline or 'unknown'} -> {self.current or 'unknown'}"


@dataclass(frozen=True)
class RunComparison:
    """The comparison of one run key."""

    run_key: str
    scenario: str
    outcome: Outcome
    baseline_status: str | None
    current_status: str | None
    baseline_key: str | None = None  # set when paired across a dtype/weights change
    time: TimeComparison | None = None
    values: tuple[ValueComparison, ...] = ()
    env_changes: tuple[EnvChange, ...] = ()
    notes: tuple[str, ...] = ()
    too_few_samples: bool = False  # time was not judged: fewer observations a side than the confidence needs

    @property
    def is_regression(self) -> bool:
        if self.outcome == "newly_failed":
            return True
        return self.outcome == "compared" and (
            (self.time is not None and self.time.verdict == "regression")
            or any(v.verdict == "regression" for v in self.values)
        )

    @property
    def is_improvement(self) -> bool:
        if self.is_regression:
            return False
        if self.outcome == "fixed":
            return True
        return self.outcome == "compared" and (
            (self.time is not None and self.time.verdict == "improvement")
            or any(v.verdict == "improvement" for v in self.values)
        )

    @property
    def verdict(self) -> str:
        """One word for tables: regression, improvement, inconclusive, unchanged, or the outcome."""
        if self.is_regression:
            return "regression"
        if self.is_improvement:
            return "improvement"
        if self.outcome != "compared":
            return self.outcome.replace("_", " ")
        if self.time is not None and self.time.verdict == "inconclusive":
            return "inconclusive"
        return "unchanged"


@dataclass(frozen=True)
class CompareReport:
    """Everything ``kbench compare`` shows: per-run results and environment differences."""

    runs: tuple[RunComparison, ...]
    env_changes: tuple[EnvChange, ...]
    allow_env_mismatch: bool
    confidence: float
    thresholds: tuple[Threshold, ...] = field(default=())
    family: int = 1  # runs judged on time together: each interval at per_test_confidence(confidence, family)

    @property
    def regressions(self) -> tuple[RunComparison, ...]:
        return tuple(r for r in self.runs if r.is_regression)

    @property
    def improvements(self) -> tuple[RunComparison, ...]:
        return tuple(r for r in self.runs if r.is_improvement)

    @property
    def has_regression(self) -> bool:
        return bool(self.regressions)

    @property
    def not_judged(self) -> tuple[RunComparison, ...]:
        """Runs whose time was not judged for too few samples (``--strict`` fails on them)."""
        return tuple(r for r in self.runs if r.too_few_samples)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.runs if r.outcome == outcome)


def _outcome(b: _Side, c: _Side) -> Outcome:
    b_ok, c_ok = b.status == "ok", c.status == "ok"
    if b_ok and c_ok:
        return "compared"
    if b_ok and c.status in FAILED_STATUSES:
        return "newly_failed"
    if b.status in FAILED_STATUSES and c_ok:
        return "fixed"
    if b.status in FAILED_STATUSES and c.status in FAILED_STATUSES:
        return "still_failing"
    return "skipped"


def _timed(b: _Side, c: _Side, thresholds: ThresholdSet) -> bool:
    """Whether this pair's time can raise a regression: both ok with samples, and a median rule that is on."""
    return (
        _outcome(b, c) == "compared"
        and bool(_clean(b.samples()).size and _clean(c.samples()).size)
        and thresholds.for_run(c.run_key, c.first.spec.scenario)["median"].enabled
    )


def _compare_pair(
    b: _Side,
    c: _Side,
    thresholds: ThresholdSet,
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
    family: int = 1,
) -> RunComparison:
    rules = thresholds.for_run(c.run_key, c.first.spec.scenario)
    changes = tuple(
        EnvChange(label, b.env(label), c.env(label))
        for label in (*ENV_FIELDS, "weights", "dtype")
        if b.env(label) != c.env(label)
    )
    outcome = _outcome(b, c)
    notes: list[str] = []
    too_few = False
    for side_name, side in (("baseline", b), ("current", c)):
        failed = [r.status for r in side.records if not r.ok]
        if side.ok_records and failed:
            notes.append(f"{side_name}: {len(failed)} of {len(side.records)} runs {'/'.join(sorted(set(failed)))}")
    if outcome == "newly_failed":
        reason = c.records[-1].reason or (c.records[-1].error.message if c.records[-1].error else None)
        notes.append(f"was ok, now {c.status}" + (f": {reason}" if reason else ""))
    time = None
    values: list[ValueComparison] = []
    if outcome == "compared":
        b_s, c_s = b.samples(), c.samples()
        if _clean(b_s).size and _clean(c_s).size:
            rng = np.random.default_rng([seed, zlib.crc32(c.run_key.encode())])
            time = compare_samples(
                b_s,
                c_s,
                rules["median"],
                confidence=confidence,
                n_resamples=n_resamples,
                rng=rng,
                baseline_groups=b.sample_groups(),
                current_groups=c.sample_groups(),
                family=family,
            )
            too_few = not time.size.judged(confidence, family)
            if too_few:
                note = time.size.note(confidence, family)
                if time.size.unit == "samples":
                    note += f": use repeats >= {min_samples_for(confidence, family)}"
                notes.append(note)
            elif time.method == "range":
                notes.append(f"fewer than {MIN_BOOTSTRAP_SAMPLES} samples: interval is the full range")
        else:
            notes.append("no timing samples on one side")
        for name, (metric, unit) in VALUE_METRICS.items():
            bv, cv = b.value(name), c.value(name)
            if bv is not None and cv is not None:
                values.append(compare_value(name, unit, bv, cv, rules[metric]))
    return RunComparison(
        run_key=c.run_key,
        scenario=c.first.spec.scenario,
        outcome=outcome,
        baseline_status=b.status,
        current_status=c.status,
        baseline_key=b.run_key if b.run_key != c.run_key else None,
        time=time,
        values=tuple(values),
        env_changes=changes,
        notes=tuple(notes),
        too_few_samples=too_few,
    )


def compare_records(
    baseline: Sequence[RunRecord],
    current: Sequence[RunRecord],
    thresholds: ThresholdSet = DEFAULT_THRESHOLDS,
    *,
    allow_env_mismatch: bool = False,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = DEFAULT_SEED,
    family: int | None = None,
) -> CompareReport:
    """Compare current results against a baseline, run by run.

    Records sharing a run key on one side are pooled (more samples). Runs whose keys differ only in dtype or
    weight source are paired, so such a change is shown rather than hidden as one removed and one new run.

    Args:
        baseline: Baseline records.
        current: Current records.
        thresholds: Rules per metric and run.
        allow_env_mismatch: Compare even across a different GPU model or weight source.
        confidence: Two-sided confidence of the time interval.
        n_resamples: Bootstrap resamples per run.
        seed: Seed of the bootstrap; each run derives its own stream from it and its run key.
        family: How many comparisons share ``confidence`` (a history compares each series in its own call);
            default: the runs of this call whose time can raise a regression.

    Raises:
        NothingToCompare: a side is empty or no run is on both sides.
        EnvironmentMismatch: a pair differs in GPU model or weight source and ``allow_env_mismatch`` is false.
    """
    if not baseline or not current:
        which = "baseline" if not baseline else "current"
        raise NothingToCompare(f"nothing to compare: the {which} results contain no runs")
    pairs = _pair(_group(baseline), _group(current))
    if not any(b is not None and c is not None for b, c in pairs):
        raise NothingToCompare(
            f"nothing to compare: no run is in both baseline ({len(_group(baseline))} run keys) "
            f"and current ({len(_group(current))} run keys); check that both come from the same scenario file"
        )
    if family is None:
        family = sum(1 for b, c in pairs if b is not None and c is not None and _timed(b, c, thresholds))
    family = max(1, family)
    runs: list[RunComparison] = []
    for b, c in pairs:
        if b is not None and c is not None:
            runs.append(
                _compare_pair(
                    b, c, thresholds, confidence=confidence, n_resamples=n_resamples, seed=seed, family=family
                )
            )
        elif b is not None:
            runs.append(RunComparison(b.run_key, b.first.spec.scenario, "only_baseline", b.status, None))
        elif c is not None:
            runs.append(RunComparison(c.run_key, c.first.spec.scenario, "only_current", None, c.status))
    blocking = [(r, ch) for r in runs for ch in r.env_changes if ch.blocking]
    if blocking and not allow_env_mismatch:
        run, change = blocking[0]
        raise EnvironmentMismatch(
            f"refusing to compare across a different {change.field}: baseline {change.baseline!r}, current "
            f"{change.current!r} (run {run.run_key}, {len(blocking)} such difference(s)); "
            "pass --allow-env-mismatch to compare anyway"
        )
    return CompareReport(
        runs=tuple(runs),
        env_changes=_summarise_env(runs),
        allow_env_mismatch=allow_env_mismatch,
        confidence=confidence,
        thresholds=thresholds.rules,
        family=family,
    )


def _summarise_env(runs: Sequence[RunComparison]) -> tuple[EnvChange, ...]:
    """Distinct environment changes across all pairs, in first-seen order."""
    seen: dict[tuple[str, str | None, str | None], EnvChange] = {}
    for r in runs:
        for ch in r.env_changes:
            seen.setdefault((ch.field, ch.baseline, ch.current), ch)
    return tuple(seen.values())


__all__ = [
    "REPORT_SCHEMA",
    "VALUE_METRICS",
    "CompareReport",
    "EnvChange",
    "EnvironmentMismatch",
    "NothingToCompare",
    "Outcome",
    "RunComparison",
    "compare_records",
]

"""Statistical regression comparison of two sets of results: pure, no I/O, no torch.

Runs are matched by run key. For each pair the distributions of seconds per image are compared by the
ratio of medians (current / baseline) with a percentile-bootstrap confidence interval (Efron & Tibshirani,
*An Introduction to the Bootstrap*, 1993, ch. 13), resampling each side independently with a seeded RNG, so
the same inputs always give the same verdict. A run is a **regression only when the whole interval lies
above 1 + threshold**: the change must be both significant and larger than the threshold (asv's rule), which
keeps noise from failing CI. With fewer than :data:`MIN_BOOTSTRAP_SAMPLES` samples on a side the bootstrap is
meaningless and the interval is the full range ``[min(cur)/max(base), max(cur)/min(base)]`` instead; with fewer
than :data:`MIN_SAMPLES` no verdict on time is given at all.
A two-sided Mann–Whitney U p-value (normal approximation with tie and continuity correction; Hollander &
Wolfe, *Nonparametric Statistical Methods*, 2nd ed., 1999, section 4.1) is reported alongside.

Peak memory and energy per image are single values per run and are compared against their thresholds
directly. A run that was ok and now fails (oom, error, timeout) is a regression. Results from a different
GPU model or weight source are refused unless explicitly allowed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from bench.errors import KbenchError
from bench.results import FAILED_STATUSES, RunRecord
from bench.thresholds import DEFAULT_THRESHOLDS, Metric, Threshold, ThresholdSet

CONFIDENCE = 0.95
N_RESAMPLES = 2000
MIN_BOOTSTRAP_SAMPLES = 5
# Below this many samples on a side no test reaches 5% significance (A/A false alarms: 13% at n=1, CV 3%),
# so a time change is never judged a regression or an improvement, only "inconclusive".
MIN_SAMPLES = 3
DEFAULT_SEED = 0
REPORT_SCHEMA = "kbench-compare/1"

Verdict = Literal["regression", "improvement", "unchanged", "inconclusive", "unchecked"]
Outcome = Literal["compared", "newly_failed", "fixed", "still_failing", "skipped", "only_baseline", "only_current"]

# Environment fields shown when they differ: label -> candidate locations in RunRecord.env (dotted paths).
ENV_FIELDS: dict[str, tuple[str, ...]] = {
    "GPU": ("gpu_name",),
    "driver": ("driver_version",),
    "CUDA": ("torch_cuda_version", "cuda_driver_version"),
    "torch": ("torch_version", "versions.torch"),
    "diffusers": ("diffusers_version", "versions.diffusers"),
    "transformers": ("transformers_version", "versions.transformers"),
    "python": ("python",),
    "CPU": ("cpu_model",),
}
# Differences in these refuse the comparison unless allowed: the numbers would not measure the same thing.
BLOCKING_FIELDS = ("GPU", "weights")

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


# --- statistics on samples -----------------------------------------------------------------------


def _clean(samples: Iterable[float] | np.ndarray) -> np.ndarray:
    """Finite, positive samples only: a zero or NaN time is a measurement artefact, not a duration."""
    arr = np.asarray(list(samples), dtype=float)
    return arr[np.isfinite(arr) & (arr > 0)]


def bootstrap_ratio_ci(
    baseline: np.ndarray, current: np.ndarray, *, confidence: float, n_resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``median(current) / median(baseline)``, resampling both sides."""
    b_idx = rng.integers(0, baseline.size, size=(n_resamples, baseline.size))
    c_idx = rng.integers(0, current.size, size=(n_resamples, current.size))
    ratios = np.median(current[c_idx], axis=1) / np.median(baseline[b_idx], axis=1)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def grouped_bootstrap_ratio_ci(
    baseline: Sequence[np.ndarray],
    current: Sequence[np.ndarray],
    *,
    confidence: float,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Two-level (hierarchical) bootstrap interval of the median ratio when a side pools several processes.

    Calls within one process share its conditions (placement, clocks, the machine's load at the time), so
    pooling them as independent samples understates the uncertainty. Each resample first draws processes
    with replacement, then calls within each drawn process (Davison & Hinkley, *Bootstrap Methods and their
    Application*, 1997, section 3.8), which carries the process-to-process variation into the interval.
    """

    def resample(groups: Sequence[np.ndarray]) -> float:
        picked = rng.integers(0, len(groups), size=len(groups))
        pooled = np.concatenate([groups[i][rng.integers(0, groups[i].size, size=groups[i].size)] for i in picked])
        return float(np.median(pooled))

    ratios = np.array([resample(current) / resample(baseline) for _ in range(n_resamples)])
    alpha = 1.0 - confidence
    lo, hi = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=float)
    sorted_vals = values[order]
    i = 0
    while i < values.size:
        j = i
        while j + 1 < values.size and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def mann_whitney_p(baseline: np.ndarray, current: np.ndarray) -> float | None:
    """Two-sided Mann–Whitney U p-value (normal approximation, tie- and continuity-corrected).

    Returns None when either side is empty.
    """
    n1, n2 = baseline.size, current.size
    if n1 == 0 or n2 == 0:
        return None
    pooled = np.concatenate([baseline, current])
    ranks = _average_ranks(pooled)
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    _, tie_counts = np.unique(pooled, return_counts=True)
    tie_term = float(np.sum(tie_counts.astype(float) ** 3 - tie_counts)) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:
        return 1.0
    z = max(0.0, abs(u1 - n1 * n2 / 2.0) - 0.5) / math.sqrt(variance)
    return min(1.0, 2.0 * (1.0 - NormalDist().cdf(z)))


@dataclass(frozen=True)
class TimeComparison:
    """Seconds per image, baseline vs current: ratio of medians with its confidence interval."""

    baseline_median_s: float
    current_median_s: float
    ratio: float
    ci_low: float
    ci_high: float
    confidence: float
    n_baseline: int
    n_current: int
    method: Literal["bootstrap", "range"]
    p_value: float | None
    threshold: Threshold
    verdict: Verdict


def compare_samples(
    baseline_s: Sequence[float] | np.ndarray,
    current_s: Sequence[float] | np.ndarray,
    threshold: Threshold | float = 0.05,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    rng: np.random.Generator | None = None,
    baseline_groups: Sequence[Sequence[float]] | None = None,
    current_groups: Sequence[Sequence[float]] | None = None,
) -> TimeComparison:
    """Compare two samples of seconds per image.

    Args:
        baseline_s: Baseline seconds per image, one per measured call.
        current_s: Current seconds per image.
        baseline_groups: The same samples split by the process (run record) that measured them; when either
            side has several, the interval comes from :func:`grouped_bootstrap_ratio_ci`.
        current_groups: As ``baseline_groups``, for the current side.
        threshold: A ``median`` :class:`Threshold`, or the allowed slowdown as a fraction (0.05 = 5%).
        confidence: Two-sided confidence of the interval.
        n_resamples: Bootstrap resamples.
        rng: Random generator; a fixed-seed one when omitted, so results are reproducible.

    Returns:
        The comparison; ``verdict`` is ``regression`` only when ``ci_low > 1 + threshold``, ``improvement`` only
        when ``ci_high < 1 / (1 + threshold)``, ``inconclusive`` when the point estimate is past the threshold
        but the interval is not.

    Raises:
        ValueError: a side has no positive finite sample.
    """
    rule = (
        threshold if isinstance(threshold, Threshold) else Threshold(metric="median", kind="percent", value=threshold)
    )
    base, cur = _clean(baseline_s), _clean(current_s)
    if base.size == 0 or cur.size == 0:
        raise ValueError("compare_samples needs at least one positive, finite sample on each side")
    b_med, c_med = float(np.median(base)), float(np.median(cur))
    ratio = c_med / b_med
    if min(base.size, cur.size) >= MIN_BOOTSTRAP_SAMPLES:
        gen = rng if rng is not None else np.random.default_rng(DEFAULT_SEED)
        b_groups = [g for g in map(_clean, baseline_groups or []) if g.size] or [base]
        c_groups = [g for g in map(_clean, current_groups or []) if g.size] or [cur]
        if len(b_groups) > 1 or len(c_groups) > 1:
            lo, hi = grouped_bootstrap_ratio_ci(
                b_groups, c_groups, confidence=confidence, n_resamples=n_resamples, rng=gen
            )
        else:
            lo, hi = bootstrap_ratio_ci(base, cur, confidence=confidence, n_resamples=n_resamples, rng=gen)
        method: Literal["bootstrap", "range"] = "bootstrap"
    else:
        lo, hi = float(cur.min() / base.max()), float(cur.max() / base.min())
        method = "range"
    # The point estimate always lies inside the interval reported.
    lo, hi = min(lo, ratio), max(hi, ratio)
    verdict: Verdict
    if not rule.enabled:
        verdict = "unchecked"
    elif min(base.size, cur.size) < MIN_SAMPLES:
        verdict = "inconclusive" if ratio > 1.0 + rule.value or ratio * (1.0 + rule.value) < 1.0 else "unchanged"
    elif lo > 1.0 + rule.value:
        verdict = "regression"
    elif hi * (1.0 + rule.value) < 1.0:
        verdict = "improvement"
    elif ratio > 1.0 + rule.value or ratio * (1.0 + rule.value) < 1.0:
        verdict = "inconclusive"
    else:
        verdict = "unchanged"
    return TimeComparison(
        baseline_median_s=b_med,
        current_median_s=c_med,
        ratio=ratio,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        n_baseline=int(base.size),
        n_current=int(cur.size),
        method=method,
        p_value=mann_whitney_p(base, cur),
        threshold=rule,
        verdict=verdict,
    )


@dataclass(frozen=True)
class ValueComparison:
    """A single-valued metric (peak memory, energy per image), baseline vs current."""

    field: str
    unit: str
    baseline: float
    current: float
    threshold: Threshold
    verdict: Verdict

    @property
    def delta(self) -> float:
        return self.current - self.baseline

    @property
    def ratio(self) -> float | None:
        return self.current / self.baseline if self.baseline else None


def compare_value(field_name: str, unit: str, baseline: float, current: float, threshold: Threshold) -> ValueComparison:
    """Compare one metric where larger is worse; memory is compared strictly, with no noise model."""
    verdict: Verdict
    if not threshold.enabled:
        verdict = "unchecked"
    elif threshold.limit_exceeded(baseline, current):
        verdict = "regression"
    elif threshold.limit_improved(baseline, current):
        verdict = "improvement"
    else:
        verdict = "unchanged"
    return ValueComparison(field_name, unit, baseline, current, threshold, verdict)


# --- records -> one side per run key -------------------------------------------------------------


def env_value(env: dict[str, Any], paths: Sequence[str]) -> str | None:
    """The first present value among dotted ``paths`` in ``env``, as text; None when unknown."""
    for path in paths:
        node: Any = env
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node not in (None, ""):
            return str(node)
    return None


@dataclass(frozen=True)
class _Side:
    """All records of one run key on one side, pooled: repeated runs add samples, memory takes the maximum."""

    run_key: str
    records: tuple[RunRecord, ...]

    @property
    def first(self) -> RunRecord:
        return self.records[0]

    @property
    def ok_records(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.records if r.ok)

    @property
    def status(self) -> str:
        return "ok" if self.ok_records else self.records[-1].status

    def sample_groups(self) -> list[list[float]]:
        """Seconds per image of each ok record (one measuring process each)."""
        out: list[list[float]] = []
        for r in self.ok_records:
            if r.timing is not None and r.timing.per_image_s:
                out.append(list(r.timing.per_image_s))
            elif r.summary is not None:  # a record without raw samples still has its median
                out.append([r.summary.median_s_per_image])
        return out

    def samples(self) -> list[float]:
        return [s for group in self.sample_groups() for s in group]

    def value(self, name: str) -> float | None:
        vals: list[float] = []
        for r in self.ok_records:
            v = getattr(r.energy, name) if name == "energy_j_per_image" else getattr(r.memory, name)
            if v is not None:
                vals.append(float(v))
        if not vals:
            return None
        return sum(vals) / len(vals) if name == "energy_j_per_image" else max(vals)

    def env(self, label: str) -> str | None:
        if label == "weights":
            return self.first.spec.weights
        if label == "dtype":
            return self.first.spec.dtype
        values = [env_value(r.env, ENV_FIELDS[label]) for r in self.records]
        known = [v for v in values if v is not None]
        return known[0] if known else None


def _group(records: Sequence[RunRecord]) -> dict[str, _Side]:
    grouped: dict[str, list[RunRecord]] = {}
    for r in records:
        grouped.setdefault(r.run_key, []).append(r)
    return {k: _Side(k, tuple(v)) for k, v in grouped.items()}


def _loose_key(record: RunRecord) -> tuple[object, ...]:
    """Identity without dtype and weight source, to pair runs whose only change is one of those."""
    s = record.spec
    return (
        s.model,
        s.task,
        s.width,
        s.height,
        s.steps,
        s.batch_size,
        s.images_per_prompt,
        s.memory,
        s.device.split(":")[0],
        s.language,
    )


def _pair(base: dict[str, _Side], cur: dict[str, _Side]) -> list[tuple[_Side | None, _Side | None]]:
    """Match by run key; then pair leftovers that differ only in dtype or weights (one on each side)."""
    pairs: list[tuple[_Side | None, _Side | None]] = [(b, cur.get(k)) for k, b in base.items()]
    unmatched_b = {k: b for k, b in base.items() if k not in cur}
    unmatched_c = [c for k, c in cur.items() if k not in base]
    by_loose_b: dict[tuple[object, ...], list[str]] = {}
    for k, b in unmatched_b.items():
        by_loose_b.setdefault(_loose_key(b.first), []).append(k)
    by_loose_c: dict[tuple[object, ...], list[_Side]] = {}
    for c in unmatched_c:
        by_loose_c.setdefault(_loose_key(c.first), []).append(c)
    paired_c: set[str] = set()
    for loose, keys in by_loose_b.items():
        cs = by_loose_c.get(loose, [])
        if len(keys) == 1 and len(cs) == 1:
            idx = next(i for i, (b, _) in enumerate(pairs) if b is not None and b.run_key == keys[0])
            pairs[idx] = (pairs[idx][0], cs[0])
            paired_c.add(cs[0].run_key)
    pairs.extend((None, c) for c in unmatched_c if c.run_key not in paired_c)
    return pairs


# --- the report ----------------------------------------------------------------------------------


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

    @property
    def regressions(self) -> tuple[RunComparison, ...]:
        return tuple(r for r in self.runs if r.is_regression)

    @property
    def improvements(self) -> tuple[RunComparison, ...]:
        return tuple(r for r in self.runs if r.is_improvement)

    @property
    def has_regression(self) -> bool:
        return bool(self.regressions)

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


def _compare_pair(
    b: _Side, c: _Side, thresholds: ThresholdSet, *, confidence: float, n_resamples: int, seed: int
) -> RunComparison:
    rules = thresholds.for_run(c.run_key, c.first.spec.scenario)
    changes = tuple(
        EnvChange(label, b.env(label), c.env(label))
        for label in (*ENV_FIELDS, "weights", "dtype")
        if b.env(label) != c.env(label)
    )
    outcome = _outcome(b, c)
    notes: list[str] = []
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
            )
            if min(time.n_baseline, time.n_current) < MIN_SAMPLES:
                notes.append(f"fewer than {MIN_SAMPLES} samples on a side: time not judged (use repeats >= 5)")
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
    runs: list[RunComparison] = []
    for b, c in pairs:
        if b is not None and c is not None:
            runs.append(_compare_pair(b, c, thresholds, confidence=confidence, n_resamples=n_resamples, seed=seed))
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
    )


def _summarise_env(runs: Sequence[RunComparison]) -> tuple[EnvChange, ...]:
    """Distinct environment changes across all pairs, in first-seen order."""
    seen: dict[tuple[str, str | None, str | None], EnvChange] = {}
    for r in runs:
        for ch in r.env_changes:
            seen.setdefault((ch.field, ch.baseline, ch.current), ch)
    return tuple(seen.values())


# --- rendering (strings and plain data; the CLI writes them) -------------------------------------


def format_change(ratio: float) -> str:
    """``1.123`` -> ``+12.3%``."""
    return f"{(ratio - 1.0) * 100:+.1f}%"


def format_time_cell(t: TimeComparison) -> str:
    """Median change with its interval, e.g. ``+12.3% [+9.8%, +15.1%]``."""
    return f"{format_change(t.ratio)} [{format_change(t.ci_low)}, {format_change(t.ci_high)}]"


def format_seconds(seconds: float) -> str:
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


def _md(text: object) -> str:
    """Escape a value for a markdown table cell (run keys contain ``|``; names come from user files)."""
    s = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "<*_`[]":
        s = s.replace(ch, "\\" + ch)
    return s


_VERDICT_MD = {"regression": "**REGRESSION**", "improvement": "improvement"}


def render_markdown(report: CompareReport, *, title: str = "kbench compare") -> str:
    """A markdown summary for a CI job summary: verdict, environment changes, one row per run."""
    status = "FAIL" if report.has_regression else "PASS"
    lines = [f"## {_md(title)}: {status}", "", summary_line(report) + ".", ""]
    if report.env_changes:
        note = " (compared anyway: --allow-env-mismatch)" if any(c.blocking for c in report.env_changes) else ""
        lines += [f"**Environment differences**{note}:", ""]
        lines += [
            f"- {_md(c.field)}: `{c.baseline or 'unknown'}` -> `{c.current or 'unknown'}`" for c in report.env_changes
        ]
        lines.append("")
    conf = f"{report.confidence * 100:g}%"
    lines += [
        f"| verdict | run | median s/image (base -> current) | change [{conf} CI] | memory / energy | notes |",
        "|---|---|---|---|---|---|",
    ]
    order = {"regression": 0, "inconclusive": 1, "improvement": 2}
    for r in sorted(report.runs, key=lambda r: order.get(r.verdict, 3)):
        if r.time is not None:
            med = f"{format_seconds(r.time.baseline_median_s)} -> {format_seconds(r.time.current_median_s)}"
            change = format_time_cell(r.time) + f" (n={r.time.n_baseline}/{r.time.n_current})"
        else:
            med = f"{r.baseline_status or '-'} -> {r.current_status or '-'}"
            change = ""
        vals = "<br>".join(
            f"{_md(v.field)}: {_md(format_value_cell(v))}" + (" **over limit**" if v.verdict == "regression" else "")
            for v in r.values
        )
        notes = "; ".join([*map(str, r.env_changes), *r.notes])
        if r.baseline_key:
            notes = f"baseline run {r.baseline_key}; {notes}"
        lines.append(
            f"| {_VERDICT_MD.get(r.verdict, r.verdict)} | {_md(r.run_key)} | {_md(med)} | {_md(change)} | {vals} | "
            f"{_md(notes)} |"
        )
    rules = ", ".join(str(t) for t in report.thresholds)
    lines += [
        "",
        f"Thresholds: {_md(rules)}. A run regresses only when its whole {conf} interval is past the threshold.",
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


# --- calibration: false alarms and detectable slowdown on synthetic samples ----------------------


def lognormal_samples(rng: np.random.Generator, n: int, cv: float, median_s: float = 1.0) -> np.ndarray:
    """``n`` timings with median ``median_s`` and coefficient of variation ``cv`` (lognormal noise)."""
    sigma = math.sqrt(math.log1p(cv * cv))
    return median_s * np.exp(rng.normal(0.0, sigma, size=n))


def detection_rate(
    slowdown: float,
    *,
    n: int = 10,
    cv: float = 0.03,
    threshold: float = 0.05,
    trials: int = 1000,
    seed: int = DEFAULT_SEED,
    n_resamples: int = N_RESAMPLES,
    sampler: Callable[[np.random.Generator, int, float, float], np.ndarray] = lognormal_samples,
) -> float:
    """Fraction of ``trials`` synthetic comparisons flagged as a regression when the truth is ``slowdown``.

    With ``slowdown=0`` this is the false-alarm rate of A/A comparisons.
    """
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        base = sampler(rng, n, cv, 1.0)
        cur = sampler(rng, n, cv, 1.0 + slowdown)
        if compare_samples(base, cur, threshold, n_resamples=n_resamples, rng=rng).verdict == "regression":
            flagged += 1
    return flagged / trials


def false_alarm_rate(
    *, n: int = 10, cv: float = 0.03, threshold: float = 0.05, trials: int = 1000, seed: int = DEFAULT_SEED
) -> float:
    """Fraction of A/A comparisons (same distribution on both sides) wrongly flagged as a regression."""
    return detection_rate(0.0, n=n, cv=cv, threshold=threshold, trials=trials, seed=seed)


def smallest_detected_slowdown(
    *,
    power: float = 0.95,
    n: int = 10,
    cv: float = 0.03,
    threshold: float = 0.05,
    trials: int = 1000,
    seed: int = DEFAULT_SEED,
    step: float = 0.005,
    max_slowdown: float = 2.0,
) -> float:
    """Smallest slowdown (on a grid of ``step``) flagged in at least ``power`` of trials; bisection on the grid.

    Returns ``math.inf`` when even ``max_slowdown`` is not detected that often.
    """
    lo, hi = 0, math.ceil(max_slowdown / step)
    if detection_rate(hi * step, n=n, cv=cv, threshold=threshold, trials=trials, seed=seed) < power:
        return math.inf
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if detection_rate(mid * step, n=n, cv=cv, threshold=threshold, trials=trials, seed=seed) >= power:
            hi = mid
        else:
            lo = mid
    return round(hi * step, 10)


__all__ = [
    "BLOCKING_FIELDS",
    "CONFIDENCE",
    "ENV_FIELDS",
    "MIN_BOOTSTRAP_SAMPLES",
    "MIN_SAMPLES",
    "N_RESAMPLES",
    "CompareReport",
    "EnvChange",
    "EnvironmentMismatch",
    "NothingToCompare",
    "RunComparison",
    "TimeComparison",
    "ValueComparison",
    "bootstrap_ratio_ci",
    "compare_records",
    "compare_samples",
    "compare_value",
    "detection_rate",
    "env_value",
    "false_alarm_rate",
    "lognormal_samples",
    "mann_whitney_p",
    "render_markdown",
    "report_to_dict",
    "smallest_detected_slowdown",
    "summary_line",
]

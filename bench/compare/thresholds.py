"""Regression thresholds as parsed value objects.

A threshold is written ``METRIC:VALUE`` (``median:5%``, ``vram:256MB``, ``vram:3%``, ``energy:5%``, ``rss:off``)
and may be scoped to some runs with a glob in front: ``kandinsky-3|*:median:8%`` matches run keys,
``smoke:vram:off`` matches a scenario name. Later rules override earlier ones, so put general rules first.
The same rules can come from a YAML file (see :func:`load_thresholds_file`).

Parsing happens once, at the CLI boundary; :mod:`bench.compare.engine` only sees :class:`ThresholdSet`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench.errors import KbenchError, located
from bench.yaml_files import read_yaml

Metric = Literal["median", "vram", "rss", "energy"]
Kind = Literal["percent", "mb", "off"]

METRICS: tuple[Metric, ...] = ("median", "vram", "rss", "energy")
# Units each metric accepts: time and energy are compared as ratios; memory also as an absolute margin.
ALLOWED_KINDS: dict[Metric, tuple[Kind, ...]] = {
    "median": ("percent", "off"),
    "vram": ("percent", "mb", "off"),
    "rss": ("percent", "mb", "off"),
    "energy": ("percent", "off"),
}
# Defaults: 5% on time and energy; peak VRAM strict (64 MB absorbs allocator rounding, nothing more);
# process RSS is noisier across fresh processes (page cache, allocator arenas), hence a relative margin.
DEFAULT_RULES = ("median:5%", "vram:64MB", "rss:10%", "energy:5%")
ANY_SCOPE = "*"

_VALUE_RE = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>%|mb|gb)\s*$", re.IGNORECASE)
_MB_PER_GB = 1024.0


class ThresholdError(KbenchError):
    """A threshold option or thresholds file that cannot be parsed."""


@dataclass(frozen=True)
class Threshold:
    """One rule: how much worse ``metric`` may get before it is a regression, for runs matching ``scope``.

    Attributes:
        metric: ``median`` (seconds per image), ``vram`` (peak device memory), ``rss`` (peak process memory)
            or ``energy`` (joules per image).
        kind: ``percent`` (``value`` is a fraction, 0.05 for 5%), ``mb`` (``value`` in MB) or ``off``.
        value: The allowed worsening in the unit of ``kind``; 0 for ``off``.
        scope: Glob matched against the run key or the scenario name; ``*`` matches every run.
    """

    metric: Metric
    kind: Kind
    value: float
    scope: str = ANY_SCOPE

    @property
    def enabled(self) -> bool:
        return self.kind != "off"

    def matches(self, run_key: str, scenario: str | None = None) -> bool:
        """True when this rule applies to the run with ``run_key`` (or from scenario ``scenario``)."""
        if self.scope == ANY_SCOPE:
            return True
        return fnmatch.fnmatchcase(run_key, self.scope) or (
            scenario is not None and fnmatch.fnmatchcase(scenario, self.scope)
        )

    def limit_exceeded(self, baseline: float, current: float) -> bool:
        """True when ``current`` is worse than ``baseline`` by more than this threshold (larger is worse)."""
        if self.kind == "off":
            return False
        if self.kind == "mb":
            return current - baseline > self.value
        return current > baseline * (1.0 + self.value)

    def limit_improved(self, baseline: float, current: float) -> bool:
        """True when ``current`` is better than ``baseline`` by more than this threshold (symmetric rule)."""
        if self.kind == "off":
            return False
        if self.kind == "mb":
            return baseline - current > self.value
        return current * (1.0 + self.value) < baseline

    def describe(self) -> str:
        """The rule's value as a user writes it: ``5%``, ``64MB``, ``off``."""
        if self.kind == "off":
            return "off"
        if self.kind == "mb":
            return f"{self.value:g}MB"
        return f"{self.value * 100:g}%"

    def __str__(self) -> str:
        prefix = "" if self.scope == ANY_SCOPE else f"{self.scope}:"
        return f"{prefix}{self.metric}:{self.describe()}"


def parse_value(metric: Metric, text: str, *, where: str = "threshold") -> Threshold:
    """Parse the value part (``5%``, ``256MB``, ``1GB``, ``off``) of a rule for ``metric``."""
    allowed = ALLOWED_KINDS[metric]
    allowed_text = " or ".join(
        {"percent": "a percentage like 5%", "mb": "megabytes like 256MB", "off": "off"}[k] for k in allowed
    )
    raw = str(text).strip()
    if raw.lower() == "off":
        return Threshold(metric=metric, kind="off", value=0.0)
    m = _VALUE_RE.match(raw)
    if not m:
        raise ThresholdError(f"{where}: {metric}: {raw!r} is not a threshold; use {allowed_text}")
    number = float(m.group("num"))
    unit = m.group("unit").lower()
    kind: Kind = "percent" if unit == "%" else "mb"
    if kind not in allowed:
        raise ThresholdError(f"{where}: {metric}: {raw!r} has the wrong unit; use {allowed_text}")
    if kind == "percent":
        if number > 1000:
            raise ThresholdError(f"{where}: {metric}: {raw!r} is out of range; use 0% to 1000%")
        return Threshold(metric=metric, kind="percent", value=number / 100.0)
    return Threshold(metric=metric, kind="mb", value=number * (_MB_PER_GB if unit == "gb" else 1.0))


def parse_threshold(text: str) -> Threshold:
    """Parse ``[SCOPE:]METRIC:VALUE``; the scope is a glob on run keys or scenario names.

    Raises:
        ThresholdError: unknown metric, bad value or unit, or a malformed rule.
    """
    parts = text.strip().rsplit(":", 2)
    if len(parts) < 2 or not all(p.strip() for p in parts):
        raise ThresholdError(
            f"--threshold: {text!r} must look like METRIC:VALUE or SCOPE:METRIC:VALUE (e.g. median:5%, vram:256MB, "
            f"'kandinsky-3|*:median:8%'); metrics: {', '.join(METRICS)}"
        )
    scope = parts[0].strip() if len(parts) == 3 else ANY_SCOPE
    metric_text, value_text = parts[-2].strip().lower(), parts[-1]
    if metric_text not in METRICS:
        raise ThresholdError(f"--threshold: {text!r}: unknown metric {metric_text!r}; use one of {', '.join(METRICS)}")
    metric: Metric = metric_text  # checked against METRICS just above
    parsed = parse_value(metric, value_text, where=f"--threshold {text!r}")
    return Threshold(metric=metric, kind=parsed.kind, value=parsed.value, scope=scope)


@dataclass(frozen=True)
class ThresholdSet:
    """Ordered rules; for each run and metric the last matching rule wins."""

    rules: tuple[Threshold, ...] = field(default_factory=lambda: tuple(parse_threshold(r) for r in DEFAULT_RULES))

    def with_rules(self, extra: Iterable[Threshold]) -> ThresholdSet:
        """A new set with ``extra`` appended, so they override the existing rules where they match."""
        return ThresholdSet(rules=(*self.rules, *extra))

    def for_run(self, run_key: str, scenario: str | None = None) -> dict[Metric, Threshold]:
        """The effective threshold of every metric for one run."""
        chosen: dict[Metric, Threshold] = {}
        for rule in self.rules:
            if rule.matches(run_key, scenario):
                chosen[rule.metric] = rule
        for metric in METRICS:  # a set built without defaults still answers every metric
            chosen.setdefault(metric, Threshold(metric=metric, kind="off", value=0.0))
        return chosen


DEFAULT_THRESHOLDS = ThresholdSet()


def thresholds_from_mapping(data: object, *, source: str | Path = "thresholds") -> list[Threshold]:
    """Rules from a mapping ``{defaults: {metric: value}, runs: {glob: {metric: value}}}``.

    ``defaults`` apply to every run; entries under ``runs`` are globs on run keys or scenario names,
    applied in file order after the defaults.
    """
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise ThresholdError(located("top level must be a mapping with 'defaults:' and/or 'runs:'", file=source))
    unknown = sorted(set(map(str, data)) - {"defaults", "runs"})
    if unknown:
        raise ThresholdError(located(f"unknown key(s) {', '.join(unknown)}; allowed: defaults, runs", file=source))
    rules: list[Threshold] = []
    sections: list[tuple[str, str, object]] = [("defaults", ANY_SCOPE, data.get("defaults"))]
    runs = data.get("runs") or {}
    if not isinstance(runs, Mapping):
        raise ThresholdError(located("must map a run-key glob to {metric: value}", file=source, field="runs"))
    sections.extend((f"runs.{k}", str(k), v) for k, v in runs.items())
    for field_name, scope, section in sections:
        if section is None:
            continue
        if not isinstance(section, Mapping):
            raise ThresholdError(located("must map a metric to a value like 5%", file=source, field=field_name))
        for metric_text, value in section.items():
            metric_key = str(metric_text).lower()
            if metric_key not in METRICS:
                raise ThresholdError(
                    located(
                        f"unknown metric {metric_text!r}; use one of {', '.join(METRICS)}",
                        file=source,
                        field=field_name,
                    )
                )
            metric: Metric = metric_key  # checked against METRICS just above
            value_text = "off" if value is False else str(value)
            parsed = parse_value(metric, value_text, where=f"{source}: {field_name}")
            rules.append(Threshold(metric=metric, kind=parsed.kind, value=parsed.value, scope=scope))
    return rules


def load_thresholds_file(path: str | Path) -> list[Threshold]:
    """Read rules from a YAML file.

    Example::

        defaults:
          median: 5%
          vram: 128MB
        runs:
          "kandinsky-3|*": {median: 8%}
          smoke: {vram: off}

    Raises:
        ThresholdError: unreadable file, invalid YAML or a bad rule; the message names the file and field.
    """
    _, data = read_yaml(Path(path), ThresholdError, "thresholds file")
    return thresholds_from_mapping(data, source=path)


def build_thresholds(options: Iterable[str] = (), files: Iterable[str | Path] = ()) -> ThresholdSet:
    """Defaults, then rules from ``files`` in order, then ``--threshold`` options (the most specific source last)."""
    rules: list[Threshold] = []
    for f in files:
        rules.extend(load_thresholds_file(f))
    rules.extend(parse_threshold(o) for o in options)
    return DEFAULT_THRESHOLDS.with_rules(rules)


__all__ = [
    "ALLOWED_KINDS",
    "DEFAULT_RULES",
    "DEFAULT_THRESHOLDS",
    "METRICS",
    "Metric",
    "Threshold",
    "ThresholdError",
    "ThresholdSet",
    "build_thresholds",
    "load_thresholds_file",
    "parse_threshold",
    "parse_value",
    "thresholds_from_mapping",
]

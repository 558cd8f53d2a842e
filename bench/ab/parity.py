"""Environment parity of an A/B run: did both sides run on the same machine, and did it stay the same?

Two checks on the records, no I/O:

* **between sides**: the facts that set speed (GPU model and board, driver, power limit, clocks policy, CPU,
  host, torch) must agree, or the comparison measures the machine rather than the change; a difference is
  listed with both values (a ``diffusers`` pin shows here too, as intended).
* **between rounds**: a condition that appears in some rounds only — another process on the GPU, clocks
  slowed by heat or power (the sampler's warnings), a power limit or peak SM clock that moved, SM clocks
  well below the run's usual — is listed with the rounds and sides it touched, since those are the
  measurements to doubt.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.compare.pairing import env_value
from bench.results import RunRecord

# Facts that must agree between the sides: label -> dotted locations in RunRecord.env.
PARITY_FIELDS: dict[str, tuple[str, ...]] = {
    "GPU": ("gpu_name",),
    "GPU board": ("gpu_uuid",),
    "driver": ("driver_version",),
    "power limit (W)": ("power_limit_w",),
    "max SM clock (MHz)": ("sm_clock_max_mhz",),
    "application SM clock (MHz)": ("app_sm_clock_mhz",),
    "persistence mode": ("persistence_mode",),
    "CPU": ("cpu_model",),
    "host": ("host",),
    "torch": ("torch_version", "versions.torch"),
    "diffusers": ("diffusers_version", "versions.diffusers"),
}
# Facts that may change between rounds of one side (a GPU reconfigured mid-job).
ROUND_FIELDS = ("power limit (W)", "max SM clock (MHz)", "application SM clock (MHz)", "driver")
WARNING_EVENTS = {"GPU shared": "another process on the GPU", "clocks were slowed": "GPU clocks slowed (throttling)"}
LOW_CLOCK_FRACTION = 0.9  # a record whose median SM clock is under 90% of the usual is flagged


@dataclass(frozen=True)
class SideDifference:
    """A fact that differs between the base and head records."""

    field: str
    base: tuple[str, ...]
    head: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.field}: base {', '.join(self.base) or 'unknown'} / head {', '.join(self.head) or 'unknown'}"


@dataclass(frozen=True)
class RoundEvent:
    """A condition seen in some rounds only, with the rounds and sides it touched."""

    what: str
    rounds: tuple[int, ...]
    sides: tuple[str, ...]
    run_keys: tuple[str, ...]

    def __str__(self) -> str:
        rounds = ", ".join(map(str, self.rounds))
        return f"{self.what}: round{'s' if len(self.rounds) > 1 else ''} {rounds} ({'/'.join(self.sides)})"


@dataclass(frozen=True)
class ParityReport:
    """Differences between the sides and events between rounds."""

    differences: tuple[SideDifference, ...]
    events: tuple[RoundEvent, ...]

    @property
    def clean(self) -> bool:
        return not self.differences and not self.events


def _values(records: Sequence[RunRecord], label: str) -> tuple[str, ...]:
    found = {v for r in records if (v := env_value(r.env, PARITY_FIELDS[label])) is not None}
    return tuple(sorted(found))


def _median_clock(record: RunRecord) -> float | None:
    if record.timeline is None:
        return None
    values = [v for v in record.timeline.series.get("sm_clock_mhz", []) if v is not None]
    return statistics.median(values) if values else None


def check_parity(records: Sequence[RunRecord]) -> ParityReport:
    """Compare the environment of the ``base`` and ``head`` records, and each round with the others."""
    by_side = {name: [r for r in records if r.side == name] for name in ("base", "head")}
    differences = []
    for label in PARITY_FIELDS:
        base, head = _values(by_side["base"], label), _values(by_side["head"], label)
        if base != head and (base or head):
            differences.append(SideDifference(label, base, head))
    hits: dict[str, list[RunRecord]] = {}
    for r in records:
        for marker, what in WARNING_EVENTS.items():
            if any(marker in w for w in r.warnings):
                hits.setdefault(what, []).append(r)
    for side_records in by_side.values():
        for label in ROUND_FIELDS:
            values = [(r, env_value(r.env, PARITY_FIELDS[label])) for r in side_records]
            known = [v for _, v in values if v is not None]
            if len(set(known)) > 1:
                usual = statistics.mode(known)
                for r, v in values:
                    if v is not None and v != usual:
                        hits.setdefault(f"{label} {v} instead of {usual}", []).append(r)
    for key in {r.run_key for r in records}:
        clocks = [(r, c) for r in records if r.run_key == key and (c := _median_clock(r)) is not None]
        if len(clocks) > 2:
            usual_clock = statistics.median(c for _, c in clocks)
            for r, c in clocks:
                if c < LOW_CLOCK_FRACTION * usual_clock:
                    hits.setdefault(f"SM clock low ({c:.0f} MHz, usual {usual_clock:.0f} MHz)", []).append(r)
    events = [
        RoundEvent(
            what=what,
            rounds=tuple(sorted({r.ab_round for r in rs if r.ab_round is not None})),
            sides=tuple(s for s in ("base", "head") if any(r.side == s for r in rs)),
            run_keys=tuple(dict.fromkeys(r.run_key for r in rs)),
        )
        for what, rs in hits.items()
    ]
    return ParityReport(differences=tuple(differences), events=tuple(sorted(events, key=lambda e: e.rounds)))


__all__ = ["PARITY_FIELDS", "ParityReport", "RoundEvent", "SideDifference", "check_parity"]

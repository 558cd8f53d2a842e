"""Banners for records that built a model other than the registered one (by what the record says it built).

A ``hub`` directory of a tiny, pruned or distilled model runs under the registered pipeline class; its record
carries the comparison with the registered architecture (``RunRecord.architecture``), and the report says so
above everything else, as it does for tiny weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.results import RunRecord
from bench.results.architecture import ComponentInfo
from bench.results.registered import built_differs, differences_text, not_projected_label


@dataclass(frozen=True)
class BuiltRow:
    """One distinct built architecture among the records: what it was, and whether it is the registered one."""

    model: str
    weights: str
    runs: int
    components: tuple[str, ...]  # "main/unet Kandinsky3UNet 3,055,348,228 (float16) #56978556bb7b"
    verdict: str  # "registered architecture", or the not-projected label


def _component_text(c: ComponentInfo) -> str:
    dtypes = ", ".join(f"{d} {n:,}" if len(c.dtypes) > 1 else d for d, n in c.dtypes.items())
    return f"{c.role}/{c.name} {c.class_name} {c.parameters:,} ({dtypes}) #{c.config_hash}"


def built_rows(records: Sequence[RunRecord]) -> list[BuiltRow]:
    """Distinct (model, weight source, built components) of the records that carry what they built."""
    groups: dict[tuple[str, str, tuple[str, ...], str], int] = {}
    for record in records:
        arch = record.architecture
        if arch is None:
            continue
        verdict = "registered architecture" if arch.matches else not_projected_label(record)
        key = (record.spec.model, record.spec.weights, tuple(_component_text(c) for c in arch.components), verdict)
        groups[key] = groups.get(key, 0) + 1
    return [BuiltRow(m, w, n, comps, v) for (m, w, comps, v), n in groups.items()]


def source_banner_applies(record: RunRecord) -> bool:
    """Whether the banner of the record's weight source speaks for it (a ``random`` run that built another
    architecture gets the architecture banner instead; tiny weights keep theirs)."""
    return record.spec.weights == "tiny" or not built_differs(record)


def row_label(record: RunRecord) -> str:
    """The summary row's label of a non-tiny record that built another architecture (tiny rows have the banner)."""
    return not_projected_label(record) if record.spec.weights != "tiny" else ""


def architecture_notes(records: Sequence[RunRecord]) -> list[str]:
    """One banner per registered model that some non-tiny record did not build, with what differed."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.spec.weights != "tiny" and built_differs(record):
            groups.setdefault(not_projected_label(record), []).append(record)
    notes = []
    for label, recs in groups.items():
        sources = " and ".join(sorted({r.spec.weights for r in recs}))
        runs = f"{len(recs)} run{'s' if len(recs) != 1 else ''}"
        notes.append(
            f"{label}. {runs} with {sources} weights built a model other than the registered one "
            f"({differences_text(recs[0])}). Their numbers are measured for what was built: they say nothing "
            "about the real model's speed, memory or cost, and neither measure nor calibrate its projections. "
            "The deployment-guide tables below are projections for the full-size models, not results of these runs."
        )
    return notes


__all__ = ["BuiltRow", "architecture_notes", "built_rows", "row_label", "source_banner_applies"]

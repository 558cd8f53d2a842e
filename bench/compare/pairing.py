"""Pooling and pairing result records before they are compared.

A run key may appear several times on one side (repeated runs, several result files): those records are pooled
into one :class:`_Side`, so repeats add samples rather than being compared one by one. Sides are then matched
by run key; leftovers that differ only in dtype or weight source are paired too, so such a change shows up as
a change instead of one removed and one new run. Environment fields are read here, per side, because the
records carry them in more than one layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.results import RunRecord

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
    "power limit (W)": ("power_limit_w",),
    "PCIe link": ("pcie_link",),
    "commit": ("git_commit",),
}
# Differences in these refuse the comparison unless allowed: the numbers would not measure the same thing.
BLOCKING_FIELDS = ("GPU", "weights")


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
    """One pooled side per run key, in first-seen order."""
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


__all__ = ["BLOCKING_FIELDS", "ENV_FIELDS", "env_value"]

"""Text on figure axes: plain tick numbers on log scales, and bar labels that tell every bar apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.spec import RunSpec


def plain_log_axis(axis: Any) -> None:
    """Log-scale tick labels as plain numbers (``0.5``, ``2``, ``10``), never mathtext.

    Matplotlib's log formatter writes ``$\\mathdefault{10^{0}}$``; with mathtext off (user text must not be
    parsed) that string would be printed as it is. Minor ticks are labelled at 2 and 5 of each decade only, so a
    short axis still has numbers and a long one does not crowd.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def unique_labels(labels: Sequence[str], facts: Sequence[Mapping[str, str]]) -> list[str]:
    """Each label, extended where it repeats by the facts that differ within its group (then ``#n``).

    Four runs of one model and size in four prompt languages get ``... en``, ``... ru``, and so on, rather than
    four bars under one name; a label that is already unique is left short.
    """
    out = list(labels)
    for label in set(labels):
        group = [i for i, lab in enumerate(labels) if lab == label]
        if len(group) < 2:
            continue
        keys = [k for k in facts[group[0]] if len({facts[i].get(k, "") for i in group}) > 1]
        for i in group:
            out[i] = " ".join([label, *(facts[i].get(k, "") for k in keys)])
    for label in set(out):
        group = [i for i, lab in enumerate(out) if lab == label]
        if len(group) > 1:
            for n, i in enumerate(group, start=1):
                out[i] = f"{label} #{n}"
    return out


def series_label(key: tuple[str, ...], same_model: Sequence[tuple[str, ...]]) -> str:
    """The model, then only the settings that differ among its series (task, steps, batch, dtype, ...)."""
    names = ("task", "steps", "batch", "dtype", "memory", "device", "language")
    differ = [i for i in range(1, len(key)) if len({k[i] for k in same_model}) > 1]
    parts = [f"{key[i]} steps" if names[i - 1] == "steps" else f"b{key[i]}" if names[i - 1] == "batch" else key[i]
             for i in differ]  # fmt: skip
    return f"{key[0]} ({', '.join(parts)})" if parts else key[0]


def run_facts(s: RunSpec) -> dict[str, str]:
    """What may tell two runs of one model and size apart, in the order a label adds them."""
    return {"task": s.task, "steps": f"{s.steps} steps", "dtype": s.dtype, "memory": s.memory,
            "language": s.language, "device": s.device}  # fmt: skip


__all__ = ["plain_log_axis", "run_facts", "series_label", "unique_labels"]

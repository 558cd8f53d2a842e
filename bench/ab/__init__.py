"""``kbench ab``: two revisions measured on one machine, interleaved, and compared with grouped statistics.

Modules by job: :mod:`~bench.ab.sides` (a worktree and an interpreter per side, reused and cleaned),
:mod:`~bench.ab.interleave` (ABBA rounds, one fresh child per call, one results file with a ``side`` field),
:mod:`~bench.ab.parity` (same machine on both sides, changes between rounds) and :mod:`~bench.ab.report`
(the comparison rebuilt from the records). Rendering lives in :mod:`bench.report.summary_md`.
"""

from bench.ab.interleave import AbOutcome, abba_order, run_interleaved
from bench.ab.parity import ParityReport, check_parity
from bench.ab.report import AbReport, ab_report, split_sides
from bench.ab.sides import AbError, Side, SideRequest, clean_sides, prepare_side

__all__ = [
    "AbError",
    "AbOutcome",
    "AbReport",
    "ParityReport",
    "Side",
    "SideRequest",
    "ab_report",
    "abba_order",
    "check_parity",
    "clean_sides",
    "prepare_side",
    "run_interleaved",
    "split_sides",
]

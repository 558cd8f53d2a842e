"""Which catalog GPU a record ran on: one rule for every command that prices or calibrates from records.

The record's environment holds the device name NVML reported (``gpu_name``); the catalog matches it by its
``nvml_names``. A run measured on the CPU ran on no GPU, even when the machine had one (its environment may
still name it), so it is priced and calibrated as nothing.
"""

from __future__ import annotations

from bench.cost.catalog import Catalog, GpuSpec
from bench.results import RunRecord


def ran_on_cpu(record: RunRecord) -> bool:
    """True when the run was measured on the CPU (no GPU, so no rental price of its own)."""
    return record.spec.device.split(":")[0] == "cpu"


def record_gpu(record: RunRecord, catalog: Catalog) -> GpuSpec | None:
    """The catalog GPU ``record`` ran on, or None (a CPU run, no device name, or a GPU the catalog lacks)."""
    name = record.env.get("gpu_name")
    if ran_on_cpu(record) or not name:
        return None
    return catalog.match_nvml_name(str(name))


__all__ = ["ran_on_cpu", "record_gpu"]

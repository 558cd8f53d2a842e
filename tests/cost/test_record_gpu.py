"""One rule for the catalog GPU a record ran on, used by cost, projection and the report alike."""

from __future__ import annotations

from bench.cost.catalog import load_catalog
from bench.cost.costs import cost_rows
from bench.cost.record_gpu import record_gpu

from . import make_record


def test_a_gpu_run_is_its_gpu_and_a_cpu_run_is_none_even_on_a_gpu_machine():
    catalog = load_catalog()
    gpu_run = make_record(gpu_name="NVIDIA GeForce RTX 4090")
    cpu_run = make_record(device="cpu", gpu_name="NVIDIA GeForce RTX 4090")  # the machine had one; unused
    unknown = make_record(gpu_name="Some Future GPU")
    assert record_gpu(gpu_run, catalog) is not None and record_gpu(gpu_run, catalog).id == "rtx4090"
    assert record_gpu(cpu_run, catalog) is None and record_gpu(unknown, catalog) is None
    rows = {r.run_key: r for r in cost_rows([gpu_run, cpu_run], catalog)}
    assert rows[gpu_run.run_key].usd_per_image is not None
    assert rows[cpu_run.run_key].usd_per_image is None  # no rental price for seconds spent on a CPU

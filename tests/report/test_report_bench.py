"""Rendering cost of a large report: 1,000 runs must render in seconds and stay a few MB.

Run with ``nox -s bench`` (``--benchmark-enable``); with benchmarks disabled the render runs once
and the size checks still apply.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cost.guide_workloads import guide_estimates
from bench.cost.report_numbers import ReportNumbers
from bench.report.bundle import build_report
from bench.results import dump_record, read_results
from tests.report.conftest import OK_RUNS, ok_record

N_RUNS = 1000
MAX_HTML_BYTES = 5_000_000
STEPS = (20, 30, 40, 50, 60, 70, 80, 90, 100, 110)
MEMORY = ("none", "model_cpu_offload", "sequential_cpu_offload", "attention_slicing")
MACHINES = (  # NVML names as the runner records them: results from five machines merged by concatenation
    "NVIDIA GeForce RTX 4090",
    "NVIDIA A100-SXM4-80GB",
    "NVIDIA H100 80GB HBM3",
    "NVIDIA L4",
    "NVIDIA GeForce RTX 3090",
)


def thousand_runs(path: Path) -> Path:
    """5 (model, resolution) pairs x 10 step counts x 4 memory options x 5 machines = 1,000 runs; 1 in 25 OOM.

    Steps and memory options change the workload but not the per-call FLOP counts, so the projection's
    in-process count cache is shared with the smaller report tests and the fixture stays fast.
    """
    lines = []
    for i in range(N_RUNS):
        model, width, median, p90, vram = OK_RUNS[i % 5]
        steps, memory, gpu = STEPS[i // 5 % 10], MEMORY[i // 50 % 4], MACHINES[i // 200]
        base = ok_record(model, width, median * steps / 50, p90 * steps / 50, vram)
        spec = base.spec.model_copy(update={"steps": steps, "memory": memory, "seed": i})
        update = {"spec": spec, "run_key": spec.run_key, "env": {**base.env, "gpu_name": gpu}}
        if i % 25 == 24:
            update |= {"status": "oom", "reason": "CUDA out of memory", "summary": None, "timeline": None}
        lines.append(dump_record(base.model_copy(update=update)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory, catalog_module):
    records = read_results([thousand_runs(tmp_path_factory.mktemp("bench") / "big.jsonl")])
    return records, ReportNumbers(tuple(guide_estimates(records, catalog_module)))


@pytest.fixture(scope="module")
def catalog_module():
    from tests.report.conftest import CATALOG

    return CATALOG


def test_render_1000_runs(benchmark, big, catalog_module):
    records, numbers = big
    assert len(records) == N_RUNS
    bundle = benchmark(build_report, records, catalog_module, numbers)
    size = {
        "html_bytes": len(bundle.html.encode()),
        "markdown_bytes": len(bundle.markdown.encode()),
        "csv_bytes": len(bundle.csv.encode()),
        "estimates": len(numbers.estimates),
    }
    benchmark.extra_info.update(size)
    assert size["html_bytes"] < MAX_HTML_BYTES
    assert bundle.csv.count("\r\n") == N_RUNS + 1
    assert len(bundle.markdown) < 65_536  # fits a pull-request comment

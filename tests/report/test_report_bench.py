"""Rendering cost of a large report: 1,000 runs must render in seconds and stay a few MB.

Run with ``nox -s bench`` (``--benchmark-enable``); with benchmarks disabled the render runs once
and the size checks still apply.
"""

from __future__ import annotations

from pathlib import Path

from bench.report import build_report
from bench.results import dump_record, read_results
from tests.report.conftest import all_records, make_record, make_spec, ok_record

N_RUNS = 1000
MAX_HTML_BYTES = 5_000_000
MODELS = ("kandinsky-2.1", "kandinsky-2.2", "kandinsky-3")


def thousand_runs(path: Path) -> Path:
    """1,000 runs: 3 models x 12 resolutions x batch/steps variations, 1 in 25 out of memory."""
    template = all_records()
    lines = []
    for i in range(N_RUNS - 3):
        model, width = MODELS[i % 3], 512 + 64 * (i // 3 % 12)
        steps, batch = (25, 50, 100)[i // 36 % 3], (1, 2, 4)[i // 108 % 3]
        if i % 25 == 24:
            rec = make_record(
                make_spec(model, width, steps=steps, batch_size=batch, seed=i),
                status="oom",
                reason="CUDA out of memory",
            )
        else:
            base = ok_record(
                model, width, 0.5 + width / 512 * steps / 50, 0.6 + width / 512 * steps / 50, 6000.0 + width * 8
            )
            spec = base.spec.model_copy(update={"steps": steps, "batch_size": batch, "seed": i})
            rec = base.model_copy(update={"spec": spec, "run_key": spec.run_key})
        lines.append(dump_record(rec))
    lines += [dump_record(r) for r in template[-3:]]  # the skipped, oom and CPU runs of the small fixture
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_render_1000_runs(benchmark, tmp_path, catalog):
    records = read_results([thousand_runs(tmp_path / "big.jsonl")])
    assert len(records) == N_RUNS
    bundle = benchmark(build_report, records, catalog)
    size = {
        "html_bytes": len(bundle.html.encode()),
        "markdown_bytes": len(bundle.markdown.encode()),
        "csv_bytes": len(bundle.csv.encode()),
    }
    benchmark.extra_info.update(size)
    assert size["html_bytes"] < MAX_HTML_BYTES
    assert bundle.csv.count("\r\n") == N_RUNS + 1
    assert len(bundle.markdown) < 65_536  # fits a pull-request comment

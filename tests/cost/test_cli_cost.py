"""The cost commands end to end, as a user runs them (real subprocesses, real files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.cli import main
from bench.cost.catalog import load_catalog
from bench.results import append_record

from . import make_record


def kbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=300)


def test_gpus_lists_catalog_with_prices_and_sources():
    out = kbench("gpus", "--price", "rtx4090=0.35")
    assert out.returncode == 0, out.stderr
    assert "rtx4090" in out.stdout and "h100-sxm" in out.stdout
    assert "https://docs.clore.ai/guides/guides_v2-de/andere-workloads/kandinsky" in out.stdout
    rtx = next(line.split() for line in out.stdout.splitlines() if line.startswith("rtx4090 "))
    assert "$0.350" in rtx and "user" in rtx  # the policy's price: a --price always wins
    listed = [line.split() for line in out.stdout.splitlines() if line.startswith("rtx4090 ")][1:]
    assert ["rtx4090", "user", "override", "$0.350"] in [cells[:4] for cells in listed]
    assert f"{len(load_catalog().gpus)} GPUs" in out.stdout  # every catalog GPU listed


def test_gpus_rejects_a_bad_catalog_in_one_line(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "gpus:\n  - id: rtx4090\n    prices:\n      - {provider: x, usd_per_hour: -2, date: 2026, source: y}\n"
    )
    out = kbench("gpus", "--catalog", str(bad))
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == f"kbench: error: {bad}: gpus[rtx4090].prices[0].usd_per_hour: Input should be greater than 0"
    )


def test_cost_of_a_results_file(tmp_path):
    results = tmp_path / "r.jsonl"
    append_record(results, make_record(median_s=10.0, load_s=60.0, energy_j=1800.0))
    out = kbench("cost", str(results), "--price", "rtx4090=0.36", "--amortise-images", "100", "--usd-per-kwh", "0.3")
    assert out.returncode == 0, out.stderr
    line = next(row for row in out.stdout.splitlines() if row.startswith("kandinsky-2.2"))
    # $/1k 1.000, img/$ 1000, amortised 1.060, 0.5 Wh, energy $0.150/1k, $8.64/day, $1.44 per 4 h
    for cell in ("$0.360", "$1.000", "1000", "$1.060", "0.500", "$0.150", "$8.64", "$1.44"):
        assert cell in line.split(), (cell, line)


def test_recommend_impossible_exits_2_with_a_message():
    out = kbench("recommend", "--model", "kandinsky-2.2", "--max-s-per-image", "0.0001", "--no-guide-vram")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.startswith("kbench: error: no GPU meets the constraints for kandinsky-2.2")


def test_recommend_and_flops_print_tables(capsys):
    # in-process (same entry point as the console script) so the meta counts are shared with other tests
    code = main(["recommend", "--model", "kandinsky-2.2", "--steps", "50", "--provider", "runpod", "--top", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert any(line.startswith("projected: ") for line in out.splitlines())  # what the projections rest on
    assert "memory: the fastest option that fits each GPU" in out
    assert "Kandinsky 2.2 (768x768): guide 8 GB -> holds under fp16 + model_cpu_offload" in out
    ranked = [line for line in out.splitlines() if line[:1].isdigit()]
    assert len(ranked) == 3 and all("RunPod" in line for line in ranked)
    assert main(["flops", "--model", "kandinsky-2.2", "--resolution", "512x512", "--resolution", "768x768"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("kandinsky-2.2")]
    assert len(rows) == 2
    assert main(["flops", "--model", "kandinsky-9"]) == 2
    assert "unknown model 'kandinsky-9'" in capsys.readouterr().err
    assert main(["recommend", "--model", "kandinsky-2.2", "--task", "mix", "--resolution", "big"]) == 2
    assert "--resolution: resolution must be WIDTHxHEIGHT" in capsys.readouterr().err


def test_cost_on_a_named_gpu_says_when_the_seconds_are_not_that_gpus():
    """CPU timings of tiny weights priced at an RTX 4090's rate: costed as asked, with one warning saying so."""
    example = Path(__file__).resolve().parents[2] / "reports" / "example" / "default.jsonl"
    out = kbench("cost", str(example), "--gpu", "rtx4090")
    assert out.returncode == 0, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if x.startswith("kbench: warning:")]
    assert "--gpu rtx4090: 6 of the records ran on the CPU" in line and "kbench recommend --model" in line
    assert "warning" not in kbench("cost", str(example)).stderr  # no --gpu: each record on its own device

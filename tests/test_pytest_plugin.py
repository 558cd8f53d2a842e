from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.pytest_plugin import usd_per_1k_images
from bench.results import append_record
from tests.conftest import REPO
from tests.test_compare import make_record

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest sessions are plain ones: pytest-benchmark turns itself off in an xdist worker (it reads
    ``PYTEST_XDIST_WORKER``), and this suite's own workers set it."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


CALLABLE_TEST = """
import time
from pathlib import Path

def test_tiny_pipeline(kbench):
    delay_s = float(Path(__file__).with_name("delay.txt").read_text())
    out = kbench.call(lambda: time.sleep(delay_s) or "image", rounds=7, warmup_rounds=1, images_per_call=2)
    assert out == "image"
"""

RECORD_TEST = """
import os
from bench.results import read_results

def test_scenario_record(kbench):
    (record,) = read_results([os.environ["KBENCH_TEST_RECORD"]])
    kbench.record(record)
"""


def _saved(pytester: pytest.Pytester) -> list[dict]:
    files = sorted((pytester.path / ".benchmarks").rglob("*.json"))
    return [json.loads(f.read_text()) for f in files]


def test_usd_per_1k_images_by_hand():
    # 2.5 s per image at $1.80/h: 2.5 * 1.8 / 3600 * 1000 = 1.25 USD
    assert usd_per_1k_images(2.5, 1.8) == pytest.approx(1.25)


def test_callable_benchmark_records_extra_info_and_compare_fail(pytester: pytest.Pytester):
    pytester.makepyfile(test_perf=CALLABLE_TEST)
    delay = pytester.path / "delay.txt"
    delay.write_text("0.05")  # long beside a busy machine's scheduling delays (several ms), so the ratio holds
    first = pytester.runpytest("--benchmark-save=base", "--kbench-usd-per-hour=3.6", "-p", "no:cacheprovider")
    first.assert_outcomes(passed=1)
    (saved,) = _saved(pytester)
    (bench,) = saved["benchmarks"]
    info = bench["extra_info"]
    assert bench["stats"]["rounds"] == 7
    assert info["images_per_call"] == 2
    assert info["median_s_per_image"] == pytest.approx(bench["stats"]["median"] / 2)
    assert info["median_s_per_image"] >= 0.025  # sleep(0.05) per call of 2 images
    assert info["usd_per_1k_images"] == pytest.approx(info["median_s_per_image"] * 3.6 / 3600 * 1000)
    assert info["peak_rss_mb"] > 10  # this Python process
    assert info["kbench_device"] == "cpu"
    assert info["vram_used_peak_mb"] is None and info["energy_j_per_image"] is None  # no GPU here

    delay.write_text("0.15")  # the "regression": three times slower
    slowed = pytester.runpytest(
        "--benchmark-compare=0001", "--benchmark-compare-fail=median:5%", "-p", "no:cacheprovider"
    )
    assert slowed.ret != 0
    assert "Field 'median' has failed PercentageRegressionCheck" in slowed.stderr.str()

    delay.write_text("0.05")  # back to the baseline speed; 100% leaves room for a loaded machine
    same = pytester.runpytest(
        "--benchmark-compare=0001", "--benchmark-compare-fail=median:100%", "-p", "no:cacheprovider"
    )
    assert same.ret == 0, same.stdout.str()


def test_recorded_run_feeds_pytest_benchmark(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    pytester.makepyfile(test_scenario=RECORD_TEST)
    base = pytester.path / "base.jsonl"
    append_record(base, make_record([2.0, 2.1, 1.9, 2.05, 1.95], vram_mb=9000.0, energy_j=150.0))
    monkeypatch.setenv("KBENCH_TEST_RECORD", str(base))
    pytester.runpytest("--benchmark-save=base", "--benchmark-save-data", "--kbench-usd-per-hour=2.0").assert_outcomes(
        passed=1
    )
    (bench,) = _saved(pytester)[0]["benchmarks"]
    assert bench["stats"]["rounds"] == 5
    assert bench["stats"]["median"] == pytest.approx(2.0)
    assert bench["stats"]["data"] == [2.0, 2.1, 1.9, 2.05, 1.95]
    info = bench["extra_info"]
    assert (info["vram_used_peak_mb"], info["energy_j_per_image"]) == (9000.0, 150.0)
    assert info["kbench_run_key"].startswith("kandinsky-2.2|text2img|768x768")
    assert info["kbench_gpu_name"] == "NVIDIA A100-SXM4-80GB"
    # median 2.0 s per image at $2/h: 2.0 * 2.0 / 3600 * 1000 = 1.111 USD per 1000 images
    assert (info["median_s_per_image"], info["usd_per_hour"]) == (2.0, 2.0)
    assert info["usd_per_1k_images"] == pytest.approx(1.1111, abs=1e-4)

    slow = pytester.path / "slow.jsonl"
    append_record(slow, make_record([2.4, 2.5, 2.45, 2.35, 2.5]))
    monkeypatch.setenv("KBENCH_TEST_RECORD", str(slow))
    result = pytester.runpytest("--benchmark-compare=0001", "--benchmark-compare-fail=median:5%")
    assert result.ret != 0
    assert "Field 'median' has failed PercentageRegressionCheck" in result.stderr.str()

    oom = pytester.path / "oom.jsonl"
    append_record(oom, make_record(status="oom", reason="CUDA out of memory"))
    monkeypatch.setenv("KBENCH_TEST_RECORD", str(oom))
    failed = pytester.runpytest()
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*ended oom: CUDA out of memory*"])


def test_disabled_benchmarks_still_run_the_call(pytester: pytest.Pytester):
    pytester.makepyfile(test_perf=CALLABLE_TEST)
    (pytester.path / "delay.txt").write_text("0")
    pytester.runpytest("--benchmark-disable").assert_outcomes(passed=1)


def test_plugin_import_is_cheap():
    code = (
        "import sys, bench.pytest_plugin; "
        "print(sorted(m for m in ('torch', 'numpy', 'pydantic', 'diffusers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_the_option(pytester: pytest.Pytester):
    pytester.runpytest("--help").stdout.fnmatch_lines(["*--kbench-usd-per-hour=USD*"])


@pytest.mark.slow
def test_scenario_run_end_to_end(pytester: pytest.Pytester):
    """A real tiny CPU run through the child-process runner, recorded as a pytest-benchmark benchmark."""
    smoke = REPO / "scenarios" / "smoke.yaml"
    pytester.makepyfile(
        test_smoke=f"""
def test_k22_smoke(kbench):
    record = kbench.scenario({str(smoke)!r}, "kandinsky-2.2|text2img|64x64|s3|b1x1|*")
    assert record.ok
"""
    )
    pytester.runpytest("--benchmark-save=smoke", "--benchmark-save-data").assert_outcomes(passed=1)
    (bench,) = _saved(pytester)[0]["benchmarks"]
    info = bench["extra_info"]
    assert info["kbench_run_key"] == "kandinsky-2.2|text2img|64x64|s3|b1x1|fp32|none|tiny|cpu|en"
    assert bench["stats"]["rounds"] == len(bench["stats"]["data"]) == 2  # smoke.yaml: repeats 2
    assert info["peak_rss_mb"] > 100

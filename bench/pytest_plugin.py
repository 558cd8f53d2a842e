"""pytest plugin: benchmark Kandinsky pipeline calls and scenarios through pytest-benchmark.

Registered through the ``pytest11`` entry point ``kbench``, so it loads in every pytest run of an environment
where kandinsky-bench is installed; importing it costs nothing (no torch, no numpy, no pydantic). Its ``kbench``
fixture wraps pytest-benchmark's ``benchmark`` fixture, so timings go through pytest-benchmark's own storage,
``--benchmark-autosave``, ``--benchmark-compare`` and ``--benchmark-compare-fail=median:5%``, and adds what
pytest-benchmark does not measure to ``benchmark.extra_info``: peak RSS and VRAM, energy per image and
USD per 1000 images.

Example::

    def test_k22_768(kbench, k22_pipeline):
        kbench.call(lambda: k22_pipeline(prompt="a red cat", num_inference_steps=30), rounds=10)

    def test_ci_scenario(kbench):
        kbench.scenario("scenarios/ci.yaml", "k22-768")
"""

from __future__ import annotations

import fnmatch
import os
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bench.results import RunRecord
    from bench.spec import RunSpec

USD_OPTION = "--kbench-usd-per-hour"
EXTRA_PREFIX = "kbench_"
DEFAULT_ROUNDS = 5
DEFAULT_WARMUP_ROUNDS = 1


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--kbench-usd-per-hour``: the rental price used for USD per 1000 images in ``extra_info``."""
    group = parser.getgroup("kbench", "kandinsky-bench measurements in pytest-benchmark's extra_info")
    group.addoption(
        USD_OPTION,
        dest="kbench_usd_per_hour",
        type=float,
        default=None,
        metavar="USD",
        help="GPU rental price in USD per hour; adds usd_per_1k_images to each kbench benchmark's extra_info.",
    )


def usd_per_1k_images(s_per_image: float, usd_per_hour: float) -> float:
    """Rental cost of 1000 images at ``s_per_image`` seconds each: ``s * price / 3600 * 1000``."""
    return s_per_image * usd_per_hour / 3600.0 * 1000.0


def _resolve_device(device: str) -> str:
    """``auto``: CUDA when an imported torch has already initialised it (the pipeline lives there), else CPU."""
    if device != "auto":
        return device
    torch: Any = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            return f"cuda:{torch.cuda.current_device()}"
    except Exception:  # a torch without CUDA support
        pass
    return "cpu"


def _median_s(benchmark: Any) -> float | None:
    """Median seconds per round from pytest-benchmark's stats; None when benchmarking is disabled."""
    meta = getattr(benchmark, "stats", None)
    stats = getattr(meta, "stats", None)
    if stats is None or not getattr(stats, "data", None):
        return None
    return float(stats.median)


def _cost_info(median_s_per_image: float | None, usd_per_hour: float | None) -> dict[str, float | None]:
    if median_s_per_image is None or usd_per_hour is None:
        return {"usd_per_hour": usd_per_hour, "usd_per_1k_images": None}
    return {"usd_per_hour": usd_per_hour, "usd_per_1k_images": usd_per_1k_images(median_s_per_image, usd_per_hour)}


def _record_samples(benchmark: Any, seconds: Sequence[float]) -> None:
    """Feed durations measured elsewhere (a child process) into pytest-benchmark as its rounds.

    pytest-benchmark has no public API for this; it needs the fixture's ``_make_stats``, present since 3.x.
    """
    make_stats = getattr(benchmark, "_make_stats", None)
    if make_stats is None:
        raise pytest.UsageError("this pytest-benchmark version cannot record external timings (no _make_stats)")
    if getattr(benchmark, "_mode", None):
        raise pytest.UsageError("the benchmark fixture was already used in this test; use one kbench call per test")
    benchmark._mode = "kbench.record(...)"
    meta = make_stats(1)
    for s in seconds:
        meta.stats.update(s)


class KbenchBenchmark:
    """What the ``kbench`` fixture returns: one benchmark per test, of a callable or of a scenario run."""

    def __init__(self, benchmark: Any, *, usd_per_hour: float | None = None) -> None:
        """Wrap pytest-benchmark's fixture; ``usd_per_hour`` prices the images (None: no cost in extra_info)."""
        self.benchmark = benchmark
        self.usd_per_hour = usd_per_hour

    @property
    def extra_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.benchmark.extra_info
        return info

    def call(
        self,
        fn: Callable[..., Any],
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        rounds: int = DEFAULT_ROUNDS,
        warmup_rounds: int = DEFAULT_WARMUP_ROUNDS,
        images_per_call: int = 1,
        device: str = "auto",
    ) -> Any:
        """Time ``fn`` with ``benchmark.pedantic`` (``rounds`` rounds of one call) and record resources.

        Warmup calls run first, outside the measured window, so peaks and energy are those of the timed rounds.
        Peak RSS and NVML VRAM come from the same sampler thread ``kbench run`` uses; torch allocator peaks and
        NVML energy only where a CUDA device is in use.

        Args:
            fn: The call to benchmark, e.g. a pipeline call.
            args: Positional arguments of ``fn``.
            kwargs: Keyword arguments of ``fn``.
            rounds: Measured calls (pytest-benchmark rounds, one iteration each).
            warmup_rounds: Unmeasured calls first (compilation, allocator and cache warm-up).
            images_per_call: Images one call produces, to express results per image.
            device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.

        Returns:
            What the last call of ``fn`` returned.
        """
        from bench.measure.samplers import SamplerThread, TorchAllocatorTracker, open_samplers

        if images_per_call < 1:
            raise pytest.UsageError(f"kbench.call: images_per_call must be >= 1, got {images_per_call}")
        kw = dict(kwargs or {})
        dev = _resolve_device(device)
        if not self.benchmark.disabled:
            for _ in range(warmup_rounds):
                fn(*args, **kw)
        samplers, warnings = open_samplers(dev, os.getpid())
        allocator = TorchAllocatorTracker(dev)
        allocator.reset()
        with SamplerThread(samplers) as sampler:
            start_s = sampler.now_s()
            result = self.benchmark.pedantic(fn, args=tuple(args), kwargs=kw, rounds=rounds, iterations=1)
            sampler.sample()
            end_s = sampler.now_s()
        energy_j, energy_method = sampler.energy_between(start_s, end_s)
        allocated_mb, reserved_mb = allocator.peaks_mb()
        median_s = _median_s(self.benchmark)
        n_images = (rounds if median_s is not None else 1) * images_per_call
        median_per_image = median_s / images_per_call if median_s is not None else None
        self.extra_info.update(
            {
                f"{EXTRA_PREFIX}device": dev,
                "images_per_call": images_per_call,
                "median_s_per_image": median_per_image,
                "peak_rss_mb": sampler.peak("rss_mb"),
                "vram_used_peak_mb": sampler.peak("vram_used_mb"),
                "torch_allocated_peak_mb": allocated_mb,
                "torch_reserved_peak_mb": reserved_mb,
                "energy_j_per_image": energy_j / n_images if energy_j is not None else None,
                "energy_method": energy_method,
                **_cost_info(median_per_image, self.usd_per_hour),
                f"{EXTRA_PREFIX}warnings": [*warnings, *sampler.warnings],
            }
        )
        return result

    def run_spec(self, spec: RunSpec, *, timeout_s: float | None = None) -> RunRecord:
        """Execute one run exactly as ``kbench run`` does (fresh child process) and record it as this benchmark.

        A run that does not end ``ok`` fails the test.
        """
        from bench.measure.runner import run_in_child

        return self.record(run_in_child(spec, timeout_s=timeout_s or spec.timeout_s))

    def record(self, record: RunRecord) -> RunRecord:
        """Report an already measured run as this test's benchmark.

        The run's seconds per image become pytest-benchmark's rounds, so ``--benchmark-compare-fail`` judges the
        same numbers ``kbench compare`` does; memory, energy and cost go to ``extra_info``.
        """
        self.extra_info.update(record_extra_info(record, usd_per_hour=self.usd_per_hour))
        if not record.ok:
            pytest.fail(f"kbench run {record.run_key} ended {record.status}: {record.reason or 'no reason recorded'}")
        per_image = record.timing.per_image_s if record.timing else []
        if not per_image:
            pytest.fail(f"kbench run {record.run_key} recorded no timings")
        if not self.benchmark.disabled:
            _record_samples(self.benchmark, per_image)
        return record

    def scenario(self, path: str | Path, match: str = "*", *, timeout_s: float | None = None) -> RunRecord:
        """Run the one run of scenario file ``path`` whose run key or scenario name matches the glob ``match``."""
        from bench.errors import ScenarioError
        from bench.scenario import load_scenario_file

        runs = [
            r
            for r in load_scenario_file(path)
            if fnmatch.fnmatchcase(r.run_key, match) or fnmatch.fnmatchcase(r.scenario, match)
        ]
        if len(runs) != 1:
            keys = ", ".join(r.run_key for r in runs[:5]) or "none"
            raise ScenarioError(f"{path}: {match!r} must select exactly one run, it selects {len(runs)} ({keys})")
        return self.run_spec(runs[0], timeout_s=timeout_s)


def record_extra_info(record: RunRecord, *, usd_per_hour: float | None = None) -> dict[str, Any]:
    """The ``extra_info`` entries of a kbench result record (memory, energy, cost, identity)."""
    median = record.summary.median_s_per_image if record.summary else None
    if median is None and record.timing and record.timing.per_image_s:
        median = statistics.median(record.timing.per_image_s)
    return {
        f"{EXTRA_PREFIX}run_key": record.run_key,
        f"{EXTRA_PREFIX}status": record.status,
        f"{EXTRA_PREFIX}weights": record.spec.weights,
        "images_per_call": record.spec.images_per_call,
        "median_s_per_image": median,
        "peak_rss_mb": record.memory.peak_rss_mb,
        "vram_used_peak_mb": record.memory.vram_used_peak_mb,
        "torch_allocated_peak_mb": record.memory.torch_allocated_peak_mb,
        "torch_reserved_peak_mb": record.memory.torch_reserved_peak_mb,
        "energy_j_per_image": record.energy.energy_j_per_image,
        "energy_method": record.energy.method,
        **_cost_info(median, usd_per_hour),
        f"{EXTRA_PREFIX}gpu_name": record.env.get("gpu_name"),
    }


@pytest.fixture
def kbench(benchmark: Any, request: pytest.FixtureRequest) -> KbenchBenchmark:
    """pytest-benchmark's ``benchmark`` plus kandinsky-bench measurements; see :class:`KbenchBenchmark`."""
    return KbenchBenchmark(benchmark, usd_per_hour=request.config.getoption("kbench_usd_per_hour"))


__all__ = ["KbenchBenchmark", "kbench", "record_extra_info", "usd_per_1k_images"]

from __future__ import annotations

import numpy as np

from bench.cost.counting import profile as flops
from bench.cost.counting.cache import cache_dir


def _count():
    flops.count_component.cache_clear()
    return flops.count_component("kandinsky-2.2", "decoder", "movq", 1, 64, 64, "fp16")


def test_counts_are_stored_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("KBENCH_CACHE_DIR", str(tmp_path))
    first = _count()
    files = list((tmp_path / "op-counts").glob("*.npz"))
    assert len(files) == 1
    again = _count()  # a fresh in-process cache: read back from disk
    assert np.array_equal(first.flops, again.flops) and np.array_equal(first.bytes, again.bytes)
    assert (first.weight_bytes, first.activation_peak_bytes) == (again.weight_bytes, again.activation_peak_bytes)


def test_damaged_entry_is_recounted(tmp_path, monkeypatch):
    monkeypatch.setenv("KBENCH_CACHE_DIR", str(tmp_path))
    first = _count()
    (entry,) = (tmp_path / "op-counts").glob("*.npz")
    entry.write_bytes(b"not an npz file")
    again = _count()
    assert again.total_flops == first.total_flops
    with np.load(entry) as data:  # rewritten whole
        assert data["flops"].sum() == first.total_flops


def test_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("KBENCH_CACHE_DIR", "off")
    assert cache_dir() is None
    assert _count().total_flops > 0
    assert not list(tmp_path.iterdir())


def test_component_sizes_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("KBENCH_CACHE_DIR", str(tmp_path))
    flops.component_sizes.cache_clear()
    first = flops.component_sizes("kandinsky-2.2", "decoder", "fp16")
    assert list((tmp_path / "op-counts").glob("*.json"))
    flops.component_sizes.cache_clear()
    assert flops.component_sizes("kandinsky-2.2", "decoder", "fp16") == first
    assert first["unet"][0] == 1_253_057_288 * 2  # fp16 weight bytes of the 2.2 UNet

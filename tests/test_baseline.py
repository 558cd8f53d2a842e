from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench.compare.baseline import meta_path, save_baseline, show_baseline
from bench.errors import ResultsFormatError
from bench.results import append_record, read_results
from tests.conftest import run_kbench
from tests.test_compare import make_record, make_spec

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
K3 = make_spec(model="kandinsky-3", scenario="k3-1024", width=1024, steps=25)


def _results(path, *records):
    for r in records:
        append_record(path, r)
    return path


def test_save_writes_records_and_metadata(tmp_path):
    src = _results(
        tmp_path / "run.jsonl", make_record([1.0, 2.0, 3.0, 4.0], vram_mb=9000.0), make_record(status="oom", spec=K3)
    )
    to = tmp_path / "benchmarks" / "baseline.jsonl"
    meta = save_baseline([src], to, now=NOW)
    assert [r.run_key for r in read_results([to])] == [make_spec().run_key, K3.run_key]
    assert meta_path(to) == tmp_path / "benchmarks" / "baseline.meta.json"
    data = json.loads(meta_path(to).read_text())
    assert data["created_at"] == "2025-03-01T12:00:00+00:00"
    assert (data["records"], data["run_keys"], data["statuses"]) == (2, 2, {"ok": 1, "oom": 1})
    assert data["environments"] == [
        {"GPU": "NVIDIA A100-SXM4-80GB", "driver": "550.54.15", "torch": "2.5.1", "weights": "random"}
    ]
    assert meta.sources == (str(src),)
    assert sorted(p.name for p in to.parent.iterdir()) == ["baseline.jsonl", "baseline.meta.json"]  # no temp files


def test_save_replaces_unless_merge(tmp_path):
    to = tmp_path / "baseline.jsonl"
    first = _results(tmp_path / "a.jsonl", make_record([1.0] * 5), make_record([5.0] * 5, spec=K3))
    save_baseline([first], to, now=NOW)
    update = _results(tmp_path / "b.jsonl", make_record([2.0] * 5))
    save_baseline([update], to, merge=True, now=NOW)
    merged = {r.run_key: r.timing.per_image_s[0] for r in read_results([to])}
    assert merged == {K3.run_key: 5.0, make_spec().run_key: 2.0}  # k3 kept, k22 replaced
    assert json.loads(meta_path(to).read_text())["sources"] == [str(first), str(update)]
    save_baseline([update], to, now=NOW)
    assert [r.run_key for r in read_results([to])] == [make_spec().run_key]


def test_show_summarises_each_run(tmp_path):
    src = _results(
        tmp_path / "run.jsonl",
        make_record([1.0, 2.0, 3.0, 4.0], vram_mb=9000.0, energy_j=300.0),
        make_record([6.0, 5.0], vram_mb=9100.0, energy_j=100.0),  # same key: pooled
        make_record(status="oom", spec=K3),
    )
    to = tmp_path / "baseline.jsonl"
    save_baseline([src], to, now=NOW)
    meta, rows = show_baseline(to)
    assert meta is not None and meta.records == 3
    k22, k3 = rows
    assert (k22.status, k22.n_samples, k22.median_s_per_image) == ("ok", 6, 3.5)  # median of 1..6
    assert (k22.vram_peak_mb, k22.energy_j_per_image) == (9100.0, 200.0)
    assert (k3.status, k3.n_samples, k3.median_s_per_image, k3.vram_peak_mb) == ("oom", 0, None, None)


def test_show_without_metadata_and_with_corrupt_metadata(tmp_path):
    plain = _results(tmp_path / "plain.jsonl", make_record([1.0]))
    meta, rows = show_baseline(plain)
    assert meta is None and len(rows) == 1
    meta_path(plain).write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match=r"plain\.meta\.json: cannot read baseline metadata"):
        show_baseline(plain)


def test_save_rejects_empty_and_missing(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="no runs to store"):
        save_baseline([empty], tmp_path / "b.jsonl")
    with pytest.raises(ResultsFormatError, match="cannot read results file"):
        save_baseline([tmp_path / "missing.jsonl"], tmp_path / "b.jsonl")
    assert not (tmp_path / "b.jsonl").exists()


def test_cli_save_show_and_compare_against_it(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _results(results / "run1.jsonl", make_record([2.0, 2.02, 1.98, 2.01, 1.99]))
    _results(results / "run2.jsonl", make_record([2.01, 2.0, 1.99, 2.03, 1.97]))
    to = tmp_path / "benchmarks" / "baseline.jsonl"
    saved = run_kbench("baseline", "save", str(results), "--to", str(to), timeout=120)
    assert saved.returncode == 0, saved.stderr
    assert "saved 2 run(s), 1 run key(s)" in saved.stdout
    shown = run_kbench("baseline", "show", str(to), env={"COLUMNS": "200"}, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "NVIDIA A100-SXM4-80GB" in shown.stdout and "2 s" in shown.stdout  # median of the 10 pooled samples
    same = run_kbench("compare", str(to), str(results / "run2.jsonl"), timeout=120)
    assert same.returncode == 0, same.stderr
    nothing = run_kbench("baseline", "show", str(tmp_path / "none.jsonl"), timeout=120)
    assert nothing.returncode == 2 and "cannot read results file" in nothing.stderr
    before = to.read_bytes()
    again = run_kbench("baseline", "save", str(results / "run1.jsonl"), "--to", str(to), timeout=120)
    assert again.returncode == 2 and "--to: a baseline exists; --merge adds to it, --force replaces it" in again.stderr
    assert to.read_bytes() == before  # never replaced without being asked
    forced = run_kbench("baseline", "save", str(results / "run1.jsonl"), "--to", str(to), "--force", timeout=120)
    assert forced.returncode == 0 and "saved 1 run(s)" in forced.stdout

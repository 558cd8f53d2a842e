"""``mode: serve`` scenarios: validation (one line, exit 2), expansion to runs, pairing runs with their serve
blocks; and the pure parts of the load generator and the SLO search, checked against hand-worked values."""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

import pytest

from bench.errors import ResultsFormatError, ScenarioError
from bench.results.serving import MIN_P99_REQUESTS, LatencyStats, read_serve_results
from bench.scenario import load_scenario_file, load_scenarios
from bench.serve.load import arrival_offsets
from bench.serve.plans import serve_plans
from bench.serve.records import next_probe, slo_bracket
from tests.conftest import REPO, run_kbench

HEAD = "name: s\nmodels: [kandinsky-2.2]\nweights: tiny\ndevice: cpu\ndtypes: [fp32]\nresolutions: [64x64]\n"


def _write(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def test_a_serve_scenario_expands_to_one_run_per_max_batch(tmp_path: Path) -> None:
    path = _write(tmp_path, "steps: [2]\nmode: serve\nserve: {rates: [0.1, 0.2], max_batch: [1, 4]}\n")
    runs = load_scenario_file(path)
    assert [r.batch_size for r in runs] == [1, 4]
    isolated = load_scenario_file(_write(tmp_path, "steps: [2]\n", "iso.yaml"))
    assert runs[0].run_key == isolated[0].run_key  # a served workload shares its isolated run's key
    (plan_1, plan_4) = serve_plans([path], runs)
    assert (plan_1.spec, plan_4.spec) == tuple(runs)
    assert plan_1.serve.rates == [0.1, 0.2] and plan_1.serve.server == "gradio"
    assert serve_plans([tmp_path / "iso.yaml"], isolated) == []  # an isolated file is left to the sweep


def test_serve_and_isolated_scenarios_do_not_mix_in_one_command(tmp_path: Path) -> None:
    serve = _write(tmp_path, "mode: serve\nserve: {rates: [1]}\n")
    iso = _write(tmp_path, "steps: [3]\n", "iso.yaml")
    paths = [serve, iso]
    with pytest.raises(ScenarioError, match="cannot run in one command"):
        serve_plans(paths, load_scenarios(paths))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("mode: serve\n", "s.yaml:1: scenario 's': serve: mode serve needs a serve: block"),
        ("serve: {rates: [1]}\n", "mode: a serve: block needs mode: serve"),
        ("mode: serve\nserve: {arrivals: closed, rates: [1]}\n", "serve.concurrency: arrivals closed needs"),
        ("mode: serve\nserve: {server: url, rates: [1]}\n", "serve.target_url: required with server url"),
        ("mode: serve\nserve: {rates: [-1]}\n", "serve.rates: rates must be requests per second in (0, 1000]"),
        ("mode: serve\nserve: {rates: [1], max_batch: [1, 1]}\n", "serve.max_batch: max_batch lists a value twice"),
        ("mode: serve\nbatch_sizes: [2]\nserve: {rates: [1]}\n", "s.yaml:8: scenario 's': batch_sizes: a serve"),
        ("mode: serve\nserve: {rates: [1], rate: 2}\n", "serve.rate: unknown field; allowed: server, target_url"),
        ("mode: serve\nserve: {server: gradio, batch_window_s: 1, rates: [1]}\n", "serve.batch_window_s: applies"),
        ("mode: serve\nserve: {server: url, target_url: 'ftp://h', rates: [1]}\n", "must be an http:// or https://"),
    ],
)
def test_serve_block_mistakes_name_file_line_and_field(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario_file(_write(tmp_path, body))
    assert expected in str(err.value) and "\n" not in str(err.value)


URL = "mode: serve\nserve:\n  server: url\n  rates: [1]\n  target_url: "


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("mode: serve\nserve: {rates: true}\n", "s.yaml:8: scenario 's': serve.rates: must be requests per second"),
        ("mode: serve\nserve: {rates: '5'}\n", "serve.rates: must be requests per second, a number or a list"),
        ("mode: serve\nserve: {rates: [1, true]}\n", "serve.rates[1]: Input should be a valid number"),
        ("mode: serve\nserve: {rates: ['5']}\n", "serve.rates[0]: Input should be a valid number"),
        ("mode: serve\nserve: {arrivals: closed, concurrency: yes}\n", "serve.concurrency: must be a whole number"),
        ("mode: serve\nserve: {rates: [1], max_requests: 2.5}\n", "serve.max_requests: Input should be a valid int"),
        ("mode: serve\nserve: {rates: [1], duration_s: '60'}\n", "serve.duration_s: Input should be a valid number"),
        ("mode: serve\nserve: {rates: [1], seed: true}\n", "serve.seed: Input should be a valid integer"),
        (URL + "http://127.0.0.1:99999\n", "s.yaml:11: scenario 's': serve.target_url: the port must be a number"),
        (URL + "http://127.0.0.1:0\n", "serve.target_url: the port must be a number from 1 to 65535"),
        (URL + "'http://127.0.0.1:80/a b'\n", "serve.target_url: must be a URL without spaces or control characters"),
        (URL + '"http://127.0.0.1:80/\\r\\nX-Evil: 1"\n', "without spaces or control characters, got 'http"),
        (URL + "http://user:secret@127.0.0.1:80\n", "serve.target_url: must not carry credentials"),
        (URL + "http://127.0.0.1:80/?q=1\n", "serve.target_url: must be the endpoint's base URL, without a ?query"),
    ],
)
def test_serve_values_of_the_wrong_kind_are_refused_at_load_time(tmp_path: Path, body: str, expected: str) -> None:
    """Reproduced: ``rates: [true]`` and ``rates: ['5']`` were coerced to 1.0 and 5.0, a port of 99999 and a
    URL with a space or a CRLF were accepted and failed only when the first request was made."""
    with pytest.raises(ScenarioError) as err:
        load_scenario_file(_write(tmp_path, body))
    assert expected in str(err.value) and "\n" not in str(err.value) and "\r" not in str(err.value)


def test_a_missing_local_hub_directory_of_a_serve_scenario_is_refused_at_load_time(tmp_path: Path) -> None:
    """Reproduced: the server found it missing only after the run had started it (a failed start-up)."""
    saved = tmp_path / "saved"
    saved.mkdir()
    head = HEAD.replace("weights: tiny", "weights: hub")
    serve = "mode: serve\nserve: {server: openai, rates: [1]}\n"
    for location, expected in [
        ("./missing", "hub.decoder: the local directory './missing' does not exist"),
        (str(saved), "holds no saved pipeline (model_index.json)"),
    ]:
        path = tmp_path / "hub.yaml"
        path.write_text(head + f"hub: {{decoder: '{location}'}}\n" + serve, encoding="utf-8")
        result = run_kbench("run", str(path), "--dry-run", cwd=tmp_path, timeout=120)
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip()
        assert "\n" not in line and "Traceback" not in line
        assert line.startswith(f"kbench: error: {path}:7: scenario 's': ") and expected in line
    (saved / "model_index.json").write_text("{}", encoding="utf-8")
    assert len(load_scenario_file(path)) == 1  # a directory with a saved pipeline passes
    path.write_text(head + "hub: {decoder: ./missing}\nsteps: [1]\n", encoding="utf-8")
    assert len(load_scenario_file(path)) == 1  # an isolated run may load it elsewhere (--executor): not checked


def test_the_cli_answers_a_bad_serve_block_with_one_line_and_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "mode: serve\nserve: {arrivals: closed, concurrency: [0]}\n")
    result = run_kbench("run", str(path), cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "serve.concurrency: concurrency must be between 1 and 256, got 0" in result.stderr


def test_the_bundled_serve_scenarios() -> None:
    gpu = load_scenario_file(REPO / "scenarios" / "serve.yaml")
    assert [(r.model, r.resolution, r.steps, r.batch_size, r.device) for r in gpu] == [
        ("kandinsky-3", "1024x1024", 30, 1, "cuda"),
        ("kandinsky-3", "1024x1024", 30, 4, "cuda"),
    ]
    (plan, _) = serve_plans([REPO / "scenarios" / "serve.yaml"], gpu)
    assert plan.serve.server == "gradio" and plan.serve.rates == [0.05, 0.1, 0.2] and plan.serve.slo_p99_s == 20
    tiny = load_scenario_file(REPO / "scenarios" / "serve-tiny.yaml")
    assert [(r.weights, r.device) for r in tiny] == [("tiny", "cpu")]
    # the one that judges: enough requests a point for a p99 and an SLO verdict, and probes to bracket the rate
    path = REPO / "scenarios" / "serve-tiny-slo.yaml"
    slo = load_scenario_file(path)
    assert [(r.weights, r.device) for r in slo] == [("tiny", "cpu")] and slo[0].run_key == tiny[0].run_key
    serve_slo, serve_tiny = (
        plan.serve
        for paths in ([path], [REPO / "scenarios" / "serve-tiny.yaml"])
        for plan in serve_plans(paths, load_scenarios(paths))
    )
    assert serve_slo.max_requests >= MIN_P99_REQUESTS > serve_tiny.max_requests
    assert serve_slo.slo_p99_s is not None and serve_slo.bisect_steps >= 2 and serve_slo.rates is not None


def test_arrivals_are_seeded_and_have_the_asked_rate() -> None:
    assert arrival_offsets("constant", 4.0, 5, seed=1) == [0.0, 0.25, 0.5, 0.75, 1.0]
    a = arrival_offsets("poisson", 2.0, 4001, seed=3)
    assert a == arrival_offsets("poisson", 2.0, 4001, seed=3) and a != arrival_offsets("poisson", 2.0, 4001, seed=4)
    assert a[0] == 0.0 and all(y > x for x, y in itertools.pairwise(a))
    mean_gap = a[-1] / 4000  # exponential gaps of mean 1/rate: 0.5 s, within 5% over 4000 gaps (sd ~1.6%)
    assert abs(mean_gap - 0.5) < 0.025


def test_the_slo_search_doubles_halves_then_bisects() -> None:
    assert next_probe({0.1: True, 0.2: True}, 3) == 0.4  # never missed: go higher
    assert next_probe({0.1: False, 0.2: False}, 3) == 0.05  # never met: go lower
    assert next_probe({0.1: True, 0.2: False}, 3) == pytest.approx(0.15)
    assert next_probe({0.1: True, 0.2: False}, 0) is None  # bounded
    assert next_probe({0.19: True, 0.2: False}, 5) is None  # bracket within 10%
    assert slo_bracket({0.1: True, 0.15: True, 0.2: False, 0.4: False}) == (0.15, 0.2)
    assert slo_bracket({0.1: False}) == (None, 0.1) and slo_bracket({0.1: True}) == (0.1, None)


def test_latency_stats_by_hand() -> None:
    stats = LatencyStats.from_values([4.0, 1.0, 3.0, 2.0])
    assert stats is not None
    assert (stats.n, stats.mean_s, stats.p50_s, stats.max_s) == (4, 2.5, 2.5, 4.0)
    assert stats.p90_s == pytest.approx(3.7) and stats.p99_s is None  # a p99 needs 100 values
    assert LatencyStats.from_values([]) is None


def test_serving_results_reader(tmp_path: Path) -> None:
    path = tmp_path / "r.serve.jsonl"
    path.write_text('{"record_type": "serve_slo", "serve_schema_version": 1, "serve_k', encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_serve_results(path) == []
    assert "torn line" in str(caught[0].message)
    path.write_text(json.dumps({"record_type": "serve", "serve_schema_version": 9}) + "\n", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="serve_schema_version: 9 is not one this kbench reads"):
        read_serve_results(path)

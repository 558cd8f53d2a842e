"""The OpenAI-style endpoint, started for real on a tiny CPU pipeline and driven by the real load generator and
by the official ``openai`` client.

One server (max batch 1) serves the whole module: open-loop points at two rates, closed-loop points at two
concurrencies, and the client's calls: an image (``n`` 2, ``size`` auto, standard parameters it ignores) and
errors whose message the client shows. (The SLO search is checked against a stub in test_measured_slo.py: a
verdict needs 100 requests a point, too many for a real pipeline here.)
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from PIL import Image

from bench.results.serving import read_serve_results
from bench.serve.app_openai import IGNORED_HEADER
from bench.serve.process import ServerProcess
from bench.serve.runner import ServePlan, run_serve
from bench.stats import percentile
from tests.serve.checks import check_point
from tests.serve.conftest import drive, running_server, serve_spec


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server("openai", tmp_path_factory.mktemp("openai")) as srv:
        yield srv


def test_open_loop_at_two_rates(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "r.serve.jsonl"
    serve = drive(server, "openai", arrivals="poisson", rates=[4.0, 2.0], max_requests=5)
    outcome = run_serve([ServePlan(serve_spec(), serve)], out)
    # lowest first; the second capped at the capacity the first measured, if this machine is slower than 4 req/s
    assert [p.asked_rate_per_s or p.offered_rate_per_s for p in outcome.points] == [2.0, 4.0]
    for point in outcome.points:
        check_point(point)
        assert point.completed == 5 and point.mean_batch == 1
        assert point.seed != 0 and point.arrivals == "poisson"
    assert read_serve_results(out) == outcome.points  # every point on disk as it was returned
    assert outcome.slos == []  # no SLO, no search


def test_closed_loop_at_two_concurrencies(server: ServerProcess, tmp_path: Path) -> None:
    serve = drive(server, "openai", arrivals="closed", concurrency=[1, 2], max_requests=4)
    one, two = run_serve([ServePlan(serve_spec(), serve)], tmp_path / "r.serve.jsonl").points
    for point in (one, two):
        check_point(point)
        assert point.offered_rate_per_s is None and point.completed == 4
    assert (one.concurrency, two.concurrency) == (1, 2)
    # one client at a time never waits behind another request; two clients on one worker must
    assert one.queue_wait is not None and two.queue_wait is not None
    assert one.queue_wait.p50_s < 0.5 * percentile(one.service_s, 50)
    assert two.queue_wait.mean_s > one.queue_wait.mean_s


def _client(server: ServerProcess) -> openai.OpenAI:
    """The official client, with its base URL given its own way (``.../v1``) and no retries (an error is final)."""
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-checked", max_retries=0, timeout=120)


def test_the_openai_client_gets_images_and_is_told_what_was_ignored(server: ServerProcess) -> None:
    """Reproduced: ``user``, ``quality`` and ``model`` were refused (422), ``n`` other than the server's own and
    ``size: auto`` too. Now they are accepted, the ignored ones named in a header, and ``n`` images come back."""
    raw = _client(server).images.with_raw_response.generate(
        prompt="a red fox in the snow", n=2, size="auto", model="kandinsky-2.2", user="u1", quality="high"
    )
    images = raw.parse()
    assert raw.headers[IGNORED_HEADER] == "model, quality, user"
    assert images.data is not None and len(images.data) == 2
    for item in images.data:
        assert item.b64_json is not None
        with Image.open(io.BytesIO(base64.b64decode(item.b64_json))) as picture:
            assert picture.size == (64, 64)  # size auto: the server's own


def test_the_openai_client_shows_the_servers_error_message(server: ServerProcess) -> None:
    """Reproduced: FastAPI's ``{"detail": ...}`` left the client only "Error code: 422". Errors now come in
    OpenAI's envelope, so the client's exception carries the message, the parameter and the type."""
    client = _client(server)
    with pytest.raises(openai.BadRequestError) as bad_size:
        client.images.generate(prompt="a red fox", size="huge")  # type: ignore[arg-type]
    assert "Invalid value for 'size'" in str(bad_size.value) and "huge" in str(bad_size.value)
    assert (bad_size.value.param, bad_size.value.type) == ("size", "invalid_request_error")
    with pytest.raises(openai.BadRequestError) as unknown:
        client.images.generate(prompt="a red fox", extra_body={"num_inference_steps": 3})
    assert "Unrecognized request argument supplied: num_inference_steps" in str(unknown.value)
    assert unknown.value.code == "unknown_parameter" and unknown.value.param == "num_inference_steps"
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(prompt="a red fox", n=11)
    assert too_many.value.param == "n" and "Invalid value for 'n'" in str(too_many.value)
    with pytest.raises(openai.BadRequestError) as wants_url:
        client.images.generate(prompt="a red fox", response_format="url")
    assert "b64_json only" in str(wants_url.value)


def test_every_error_comes_in_openais_envelope(server: ServerProcess) -> None:
    """Not only the body's: a body that is not JSON, a missing prompt, an unknown route."""
    import httpx

    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http:
        answers = [
            http.post("/v1/images/generations", content=b"{not json", headers={"Content-Type": "application/json"}),
            http.post("/v1/images/generations", json={"size": "64x64"}),
            http.get("/v1/models/nope"),
        ]
    assert [a.status_code for a in answers] == [400, 400, 404]
    errors = [a.json()["error"] for a in answers]
    assert all(set(e) == {"message", "type", "param", "code"} and e["message"] for e in errors)
    assert errors[1]["param"] == "prompt" and errors[1]["code"] == "missing_required_parameter"
    assert errors[2]["code"] == "not_found"


RUN_HEAD = (
    "name: served\nmodels: [kandinsky-2.2]\nweights: tiny\ndevice: cpu\ndtypes: [fp32]\nresolutions: [64x64]\n"
    "steps: [1]\nprior_steps: 2\nmode: serve\nserve:\n  server: url\n  api: openai\n  arrivals: constant\n"
    "  rates: [1, 2]\n  max_requests: 3\n  duration_s: 30\n  request_timeout_s: 60\n  warmup: 0\n"
)


def test_a_serve_run_writes_its_report_and_ends_as_an_isolated_run_does(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kbench run`` of a serve scenario (against this module's real server) writes the report beside its
    records: each measured point beside the simulator's prediction from the same server's calls, in the table and
    the latency figure. It ends with what it wrote, the tiny-weights caveat and the next command; ``kbench
    report --serve FILE`` alone gives the same numbers (the simulation is seeded: one answer)."""
    from bench.cli import main
    from bench.report.serving_render import POINT_HEADERS

    scenario = tmp_path / "served.yaml"
    scenario.write_text(RUN_HEAD + f"  target_url: {server.url}\n", encoding="utf-8")
    out = tmp_path / "r.serve.jsonl"
    assert main(["run", str(scenario), "--out", str(out), "--report-dir", str(tmp_path / "rep")]) == 0
    lines = capsys.readouterr().out.splitlines()
    stem = tmp_path / "rep" / "r.serve"
    html_path, md_path, csv_path = (stem.with_name(stem.name + s) for s in (".html", ".md", ".csv"))
    assert lines[-5:-3] == [f"serving results: {out} (2 load point(s))", f"report: {html_path}, {md_path}, {csv_path}"]
    assert lines[-3].startswith("note: 3 completed requests at a point give no p99 and cannot show an SLO met")
    assert lines[-2:] == [
        "note: tiny weights time the serving path, not the real model; for a GPU's answer:",
        "  kbench recommend --model kandinsky-2.2 --resolution 64x64 --steps 1 --memory auto",  # whole, to copy
    ]
    html = html_path.read_text(encoding="utf-8")
    head = html.split('id="serving-points-0"', 1)[1].split("</thead>", 1)[0]
    assert [h.split("</th>")[0] for h in head.split("<th>")[1:]] == list(POINT_HEADERS)
    assert 'id="fig-serve-latency-' in html and "simulated from the server's calls p99" in html  # the legend
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    assert [float(r["offered_rate_per_s"]) for r in rows] == [1.0, 2.0]
    for row in rows:
        assert row["measured_p99_s"] == "" and float(row["measured_p50_s"]) > 0  # 3 requests: no p99, a p50
        # simulated from the server's own calls, or said why not (a busy machine's capacity below 2 req/s)
        assert row["simulated_basis"].startswith("simulated") or "simulated capacity" in row["simulated_basis"]
    light = rows[0]  # a tiny call takes far less than a second: 1 req/s is within any capacity
    assert float(light["simulated_p50_s"]) <= float(light["simulated_p99_s"])
    assert light["simulated_basis"].startswith("simulated ") and "requests x 10 seeds" in light["simulated_basis"]
    alone = tmp_path / "alone"
    assert main(["report", "--serve", str(out), "--out", str(alone)]) == 0
    assert alone.with_suffix(".csv").read_text(encoding="utf-8") == csv_path.read_text(encoding="utf-8")

"""The deployment guide's Gradio app, started for real (queue, ``batch=True``, max batch 2) on a tiny CPU
pipeline and driven through ``gradio_client`` at two rates and two concurrencies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.results.serving import read_serve_results
from bench.serve.process import ServerProcess
from bench.serve.runner import ServePlan, run_serve
from tests.conftest import REPO
from tests.serve.checks import check_point
from tests.serve.conftest import drive, running_server, serve_spec

CALL_FLOOR_S = 0.5  # every pipeline call of this server takes at least this long (a sleep inside it)
FLOOR = f"""\
import time
import bench.workloads as w
_real = w.run_workload
def run_workload(*args, **kwargs):
    time.sleep({CALL_FLOOR_S})
    return _real(*args, **kwargs)
w.run_workload = run_workload
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The guide app with a floor under each call, so that batching does not hang on how fast this machine's
    clients resubmit: while a call sleeps, the other closed-loop clients' requests are surely queued (a busy
    machine slows the clients, never shortens the sleep)."""
    root = tmp_path_factory.mktemp("gradio")
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(FLOOR, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", f"{root / 'site'}{os.pathsep}{REPO}")
        with running_server("gradio", root, max_batch=2) as srv:
            yield srv


def test_open_loop_at_two_rates(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "g.serve.jsonl"
    serve = drive(server, "gradio", arrivals="poisson", rates=[2.0, 6.0], max_requests=5, warmup=1)
    outcome = run_serve([ServePlan(serve_spec(2), serve)], out)
    slow, fast = outcome.points
    for point in outcome.points:
        check_point(point)
        assert point.completed == 5 and point.max_batch == 2, point.request_errors
    # asked for; offered at most the capacity measured first (the sleep floor holds it near 2 / 0.5 s = 4 req/s)
    assert (slow.asked_rate_per_s or slow.offered_rate_per_s, fast.asked_rate_per_s) == (2.0, 6.0)
    assert fast.offered_rate_per_s is not None and fast.offered_rate_per_s < 6.0
    assert read_serve_results(out) == outcome.points


def test_closed_loop_batches_waiting_requests(server: ServerProcess, tmp_path: Path) -> None:
    """One client is always alone in its batch; three clients on one worker leave two waiting during each
    call, and the queue hands both to the next call (``batch=True``, ``max_batch_size=2``)."""
    serve = drive(server, "gradio", arrivals="closed", concurrency=[1, 3], max_requests=6)
    one, three = run_serve([ServePlan(serve_spec(2), serve)], tmp_path / "g.serve.jsonl").points
    for point in (one, three):
        check_point(point)
        assert point.completed == 6, point.request_errors
    assert one.mean_batch == 1
    assert three.mean_batch is not None and three.mean_batch > 1


def test_gradio_client_calls_the_app_by_keyword_with_defaults(server: ServerProcess, tmp_path: Path) -> None:
    """Reproduced: the API's parameters were ``param_0`` .. ``param_6``, so a keyword call with the guide's names
    failed, and the negative prompt was required. Now they carry the guide's names and all but the prompt have a
    default (the run's values)."""
    from gradio_client import Client

    from bench.serve.app_gradio import API_NAME, PARAMETERS

    client = Client(server.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path))
    try:
        info = client.view_api(print_info=False, return_format="dict")
        assert isinstance(info, dict)
        params = info["named_endpoints"][f"/{API_NAME}"]["parameters"]
        assert tuple(p["parameter_name"] for p in params) == PARAMETERS
        assert [p["parameter_has_default"] for p in params] == [False] + [True] * 6
        image, timing = client.predict(prompt="a red fox", api_name=f"/{API_NAME}")  # every other input defaulted
        assert Path(image).is_file() and timing["batch"] >= 1
        image, _ = client.predict(prompt="a red fox", negative_prompt="blur", steps=1, seed=3, api_name=f"/{API_NAME}")
        assert Path(image).is_file()
        with pytest.raises(TypeError, match="prompt"):
            client.predict(steps=1, api_name=f"/{API_NAME}")
    finally:
        client.close()

"""``server: url`` against a strict OpenAI-compatible stub on 127.0.0.1, as a user runs it (``kbench run``): a key
required (read from the environment, never written), unknown fields refused, a ``/v1`` base URL, extension
fields only when asked for, ``b64_json`` asked for, and a ``url`` reply fetched as part of the request."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import ScenarioError
from bench.results.serving import ServeRecord, read_serve_results
from bench.scenario import load_scenario_file
from bench.serve.clients import OpenAITarget
from bench.serve.engine import GenRequest
from bench.serve.openai_wire import REDACTED, Auth
from tests.serve.stubs import OPENAI_FIELDS, StubState, stub

KEY = "sk-test-0123456789abcdef"
HEAD = (
    "name: url\nmodels: [kandinsky-2.2]\nweights: tiny\ndevice: cpu\ndtypes: [fp32]\nresolutions: [64x64]\n"
    "steps: [3]\nprior_steps: 2\nmode: serve\nserve:\n  server: url\n  api: openai\n  arrivals: constant\n"
    "  rates: [20]\n  max_requests: 3\n  duration_s: 10\n  request_timeout_s: 10\n  warmup: 1\n"
)


def _run(
    tmp_path: Path, url: str, extra: str = "", *, name: str = "url.yaml", report: bool = False
) -> tuple[int, Path, Path]:
    """Run the scenario in process; its report (``report``) goes under ``tmp_path/reports``, else none is written."""
    scenario = tmp_path / name
    scenario.write_text(HEAD + f"  target_url: {url}\n" + extra, encoding="utf-8")
    out = tmp_path / f"{scenario.stem}.serve.jsonl"
    where = ["--report-dir", str(tmp_path / "reports")] if report else ["--no-report"]
    return main(["run", str(scenario), "-o", str(out), *where]), out, scenario


def _points(out: Path) -> list[ServeRecord]:
    return [r for r in read_serve_results(out) if isinstance(r, ServeRecord)]


def test_a_strict_server_with_a_v1_base_url_and_a_key_from_the_environment(tmp_path, capsys, monkeypatch):
    """Reproduced: kbench sent no key, posted to ``/v1/v1/images/generations`` for a ``.../v1`` URL and always
    sent ``steps``, ``guidance_scale`` and ``seed``, so a strict server refused every request. Now the key comes
    from ``api_key_env``, the route is added once, and the body holds OpenAI's fields only."""
    monkeypatch.setenv("KBENCH_TEST_KEY", KEY)
    state = StubState(key=KEY)
    with stub(state) as root:
        code, out, _ = _run(tmp_path, f"{root}/v1/", "  api_key_env: KBENCH_TEST_KEY\n  headers: {X-Team: bench}\n")
    printed = capsys.readouterr()
    assert code == 0, printed.err
    (point,) = _points(out)
    assert point.status == "ok" and point.completed == 3 and point.failed == 0, point.request_errors
    assert set(state.paths) == {"/v1/images/generations"}
    assert all(h.get("X-Team") == "bench" for h in state.headers)
    for body in state.bodies:
        assert set(body) == {"prompt", "size", "response_format"} and body["response_format"] == "b64_json"
    assert KEY not in out.read_text(encoding="utf-8") and KEY not in printed.out + printed.err


def test_a_refused_key_that_the_server_quotes_back_is_never_written(tmp_path, capsys, monkeypatch):
    """A server that quotes the key it refused (as real ones do) must not put it in a record, the report or the
    output: every point fails (exit 3), with the reason redacted."""
    monkeypatch.setenv("KBENCH_TEST_KEY", KEY)
    with stub(StubState(key="sk-the-right-one")) as root:
        code, out, _ = _run(tmp_path, f"{root}/v1", "  api_key_env: KBENCH_TEST_KEY\n", report=True)
    printed = capsys.readouterr()
    assert code == 3
    (point,) = _points(out)
    assert point.status == "failed" and point.completed == 0
    (error,) = point.request_errors
    assert error.startswith("HTTP 401") and REDACTED in error
    reports = sorted((tmp_path / "reports").iterdir())
    assert [p.suffix for p in reports] == [".csv", ".html", ".md"]  # a failed run is reported too, as it failed
    assert "HTTP 401" in reports[1].read_text(encoding="utf-8")
    for text in [out.read_text(encoding="utf-8"), *(p.read_text(encoding="utf-8") for p in reports)]:
        assert KEY not in text and KEY[:12] not in text  # not a piece of it either
    assert KEY not in printed.out + printed.err


def test_a_key_variable_that_is_not_set_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KBENCH_TEST_KEY", raising=False)
    code, out, scenario = _run(tmp_path, "http://127.0.0.1:9/v1", "  api_key_env: KBENCH_TEST_KEY\n")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("kbench: error: ") and "scenario 'url'" in err and scenario.name in err
    assert "serve.api_key_env: the environment variable KBENCH_TEST_KEY is not set" in err
    assert not out.exists()


def test_extension_fields_go_only_when_extra_body_asks(tmp_path, capsys):
    """A list sends kbench's fields with the run's values; a mapping sends the endpoint's own fields as written.
    A strict server refuses either unless it knows the fields: here it is told to accept them."""
    state = StubState(allowed=OPENAI_FIELDS | {"steps", "seed", "num_inference_steps"})
    with stub(state) as root:
        code, _, _ = _run(tmp_path, root, "  extra_body: [steps, seed]\n")
        assert code == 0, capsys.readouterr().err
        assert {(b["steps"], b["seed"]) for b in state.bodies} == {(3, 0)} and "guidance_scale" not in state.bodies[0]
        state.bodies.clear()
        code, _, _ = _run(tmp_path, root, "  extra_body: {num_inference_steps: 7, model: m1}\n", name="b.yaml")
        assert code == 0, capsys.readouterr().err
        assert all(b["num_inference_steps"] == 7 and b["model"] == "m1" and "steps" not in b for b in state.bodies)
    with stub(StubState()) as root:  # strict: the same extension fields are refused, and the point fails
        code, out, _ = _run(tmp_path, root, "  extra_body: [steps]\n", name="c.yaml")
    assert code == 3
    (point,) = _points(out)
    assert "Unrecognized request argument supplied: steps" in next(iter(point.request_errors))


def test_a_url_reply_is_fetched_within_the_request_and_the_key_stays_with_its_origin(tmp_path, capsys, monkeypatch):
    """Reproduced: a reply in OpenAI's ``url`` shape counted as completed without the image being fetched. Now
    the image is fetched as part of the request (its latency included); the key goes with a fetch from the
    endpoint's own origin, never to another host (a signed storage URL)."""
    monkeypatch.setenv("KBENCH_TEST_KEY", KEY)
    own = StubState(key=KEY, answer="url")
    with stub(own) as root:
        code, out, _ = _run(tmp_path, root, "  api_key_env: KBENCH_TEST_KEY\n")
    assert code == 0, capsys.readouterr().err
    assert _points(out)[0].completed == 3
    assert own.image_auth == [f"Bearer {KEY}"] * 4  # warmup and three requests, each image fetched
    images = StubState()
    with stub(images) as elsewhere, stub(StubState(key=KEY, answer="url", image_base=elsewhere)) as root:
        code, out, _ = _run(tmp_path, root, "  api_key_env: KBENCH_TEST_KEY\n", name="b.yaml")
    assert code == 0, capsys.readouterr().err
    assert images.image_auth == [None] * 4


def test_an_image_url_that_fails_fails_the_request_without_its_signature():
    """The image's fetch is bounded like every body, and its failure is the request's; a signed URL's query (a
    credential) is left out of the reason."""
    with stub(StubState(answer="url", image_base="http://127.0.0.1:9")) as root:
        target = OpenAITarget(f"{root}/v1", timeout_s=10, auth=Auth({"X-Team": "t"}))
        try:
            outcome = target.send(GenRequest(prompt="a red fox"))
        finally:
            target.close()
    assert outcome.status == "failed" and outcome.error is not None
    assert "ConnectError" in outcome.error and "secret-signature" not in outcome.error


@pytest.mark.parametrize(
    ("serve", "expected"),
    [
        ("  headers: {Authorization: Bearer x}\n", "serve.headers: Authorization: name the environment variable"),
        ("  headers: {'X-A': \"a\\r\\nX-B: b\"}\n", "serve.headers: X-A: the value must be text of visible ASCII"),
        ("  headers: {Content-Length: '3'}\n", "serve.headers: Content-Length: set by the client itself"),
        ("  api_key_env: 1KEY\n", "serve.api_key_env: must be the name of an environment variable"),
        ("  api_key_header: api-key\n", "serve.api_key_header: names where the key goes; give api_key_env"),
        ("  extra_body: [steps, foo]\n", "serve.extra_body: 'foo' is not a kbench field; allowed: negative_prompt"),
        ("  extra_body: {prompt: x}\n", "serve.extra_body: prompt: kbench sets it in every request"),
        ("  extra_body: 3\n", "serve.extra_body: must be a list of kbench's fields"),
    ],
)
def test_url_mode_mistakes_are_one_line_naming_the_field(tmp_path, serve, expected):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "  target_url: http://127.0.0.1:9\n" + serve, encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario_file(path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_url_fields_belong_to_url_mode(tmp_path):
    for body, expected in [
        ("serve: {server: openai, rates: [1], api_key_env: K}\n", "serve.api_key_env: only with server url"),
        ("serve: {server: url, api: gradio, target_url: 'http://h:1', rates: [1], extra_body: [steps]}\n",
         "serve.extra_body: only with api openai"),
    ]:  # fmt: skip
        path = tmp_path / "s.yaml"
        path.write_text(HEAD.split("serve:\n")[0] + body, encoding="utf-8")
        with pytest.raises(ScenarioError, match=expected.replace(".", r"\.")):
            load_scenario_file(path)

"""``hub`` weights as a user loads them: a snapshot resolved first (download timed apart), its revision kept.

The hub is reached through huggingface_hub's own local hooks (``HF_HUB_CACHE`` holding a snapshot laid out as
the library lays it out, ``HF_HUB_OFFLINE=1``), in a fresh interpreter because the library reads them at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.errors import ModelError
from bench.models.build import build_pipelines
from bench.models.hub import HubLoads
from tests.conftest import REPO

REVISION = "0123456789abcdef0123456789abcdef01234567"
PROBE = """
import json, sys
from bench.models.build import build_pipelines
from bench.models.hub import HubLoads
loads = HubLoads()
try:
    pipes = build_pipelines("kandinsky-3", "text2img", "hub", "cpu", "fp32", {"main": sys.argv[1]}, loads=loads)
    print(json.dumps({"revisions": loads.revisions, "download_s": loads.download_s, "keys": sorted(pipes)}))
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
"""


@pytest.fixture(scope="module")
def saved_k3(tmp_path_factory):
    directory = tmp_path_factory.mktemp("k3")
    build_pipelines("kandinsky-3", "text2img", "tiny", "cpu", "fp32")["main"].save_pretrained(directory)
    return directory


def test_a_local_directory_loads_with_no_revision_and_no_download(saved_k3):
    loads = HubLoads()
    pipes = build_pipelines("kandinsky-3", "text2img", "hub", "cpu", "fp32", {"main": str(saved_k3)}, loads=loads)
    assert set(pipes) == {"main"} and loads.revisions == {"main": None} and loads.download_s == 0.0


def _probe(location: str, cache) -> dict:
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", PROBE, location], capture_output=True, text=True, env=env, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_hub_id_resolves_to_its_snapshot_and_records_the_commit(saved_k3, tmp_path):
    repo = tmp_path / "cache" / "models--kbench-test--tiny-k3"
    snapshot = repo / "snapshots" / REVISION
    snapshot.parent.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(saved_k3), str(snapshot)], check=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    got = _probe("kbench-test/tiny-k3", tmp_path / "cache")
    assert got.get("revisions") == {"main": REVISION}, got
    assert got["keys"] == ["main"] and got["download_s"] >= 0.0


def test_an_unreachable_hub_id_is_one_line(tmp_path):
    got = _probe("kbench-test/not-cached", tmp_path / "empty-cache")
    assert got["error"].startswith("ModelError: hub: cannot fetch 'kbench-test/not-cached'")
    assert "\n" not in got["error"]


def test_a_missing_local_directory_is_one_line(tmp_path):
    with pytest.raises(ModelError, match="is not a directory with a saved pipeline"):
        build_pipelines("kandinsky-3", "text2img", "hub", "cpu", "fp32", {"main": str(tmp_path / "nope")})

"""The GPU acceptance script is runnable everywhere and says plainly when there is no GPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: run nox -s gpu")
def test_without_a_gpu_it_exits_2_with_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "bench.acceptance", "-o", str(tmp_path / "r.jsonl")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "needs a CUDA GPU" in out.stderr
    assert not (tmp_path / "r.jsonl").exists()

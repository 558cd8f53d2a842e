"""Where the code under test came from: git commit, branch and dirty flag, and torch's numeric settings.

A regression result without the commit is not evidence (a CI job measures a revision); the settings that change
kernels (TF32, ``cudnn.benchmark``, the SDPA backends allowed) change timings as much as a new library does.
Every reading is bounded in time and never raises.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

GIT_TIMEOUT_S = 5.0
GIT_KEYS = ("git_commit", "git_branch", "git_dirty", "kbench_git_commit", "kbench_git_dirty")
TORCH_SETTING_KEYS = ("tf32_matmul", "tf32_cudnn", "cudnn_benchmark", "sdpa_backends")


def _git(directory: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(directory: Path) -> tuple[str | None, str | None, bool | None]:
    """(commit, branch, dirty) of the repository holding ``directory``; Nones outside a repository."""
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return None, None, None
    branch = _git(directory, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return commit, branch, (bool(status) if status is not None else None)


def git_facts(cwd: Path | None = None) -> dict[str, Any]:
    """The working directory's repository (what a CI job tests) and kbench's own, when it runs from a checkout."""
    commit, branch, dirty = git_state(cwd or Path.cwd())
    own_commit, _, own_dirty = git_state(Path(__file__).resolve().parent)
    return {
        "git_commit": commit,
        "git_branch": branch,
        "git_dirty": dirty,
        "kbench_git_commit": own_commit,
        "kbench_git_dirty": own_dirty,
    }


def torch_settings() -> dict[str, Any]:
    """TF32, cuDNN autotuning and the SDPA backends enabled, from an already imported torch (else Nones)."""
    torch: Any = sys.modules.get("torch")
    facts: dict[str, Any] = dict.fromkeys(TORCH_SETTING_KEYS)
    if torch is None:
        return facts
    try:
        cuda = torch.backends.cuda
        facts["tf32_matmul"] = bool(cuda.matmul.allow_tf32)
        facts["tf32_cudnn"] = bool(torch.backends.cudnn.allow_tf32)
        facts["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
        checks = {
            "flash": "flash_sdp_enabled",
            "mem_efficient": "mem_efficient_sdp_enabled",
            "math": "math_sdp_enabled",
            "cudnn": "cudnn_sdp_enabled",
        }
        facts["sdpa_backends"] = ",".join(n for n, fn in checks.items() if getattr(cuda, fn, lambda: False)())
    except Exception:  # an older or partial torch: the settings stay unknown
        pass
    return facts

"""A ``sitecustomize`` for the run children of executor tests: logs each child, and delays or hangs it on cue.

Active only in a run's child (``KBENCH_RUN_DIR`` is set by the sweep) when ``KB_HOOKS`` names a folder. Each
child appends ``{"lang", "device", "pid", "ppid", "cvd", "start"}`` to ``log.jsonl`` there and its end time at
exit. ``control.json`` (language -> rule) delays a child (``{"sleep": S}``, cut short if its parent dies) or,
once per language, writes the PID of the child's parent (the Ray worker) to ``hung-<lang>`` and waits until
that parent is gone (``{"hang_once": true}``), so a test can kill the worker by PID mid-task. Runs are told
apart by their prompt language.
"""

from __future__ import annotations

import json
from pathlib import Path

SITE = r"""
import atexit, json, os, sys, time
def _kb_hooks():
    hooks, run_dir = os.environ.get("KB_HOOKS"), os.environ.get("KBENCH_RUN_DIR")
    if not hooks or not run_dir:
        return
    spec = json.loads(open(os.path.join(run_dir, "spec.json"), encoding="utf-8").read())
    lang, device = spec["language"], spec["device"]
    entry = {"lang": lang, "device": device, "pid": os.getpid(), "ppid": os.getppid(),
             "cvd": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": time.time()}
    log = os.path.join(hooks, "log.jsonl")
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    def _end():
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"pid": entry["pid"], "end": time.time()}) + "\n")
    atexit.register(_end)
    try:
        rule = json.loads(open(os.path.join(hooks, "control.json"), encoding="utf-8").read()).get(lang, {})
    except OSError:
        rule = {}
    if rule.get("hang_once"):
        marker = os.path.join(hooks, f"hung-{lang}")
        if not os.path.exists(marker):
            parent = os.getppid()
            with open(marker + ".tmp", "w") as f:
                f.write(str(parent))
            os.replace(marker + ".tmp", marker)
            deadline = time.time() + 120
            while os.getppid() == parent and time.time() < deadline:
                time.sleep(0.1)
            os._exit(9)
    if rule.get("sleep"):  # like the lifeline the child arms later: never outlive the parent
        parent, deadline = os.getppid(), time.time() + float(rule["sleep"])
        while time.time() < deadline:
            if os.getppid() != parent:
                os._exit(9)
            time.sleep(0.05)
_kb_hooks()
"""


def write_site(folder: Path) -> Path:
    """Write the ``sitecustomize`` into ``folder/site`` and return that directory (for PYTHONPATH)."""
    site = folder / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITE, encoding="utf-8")
    return site


def set_control(folder: Path, rules: dict[str, dict[str, object]]) -> None:
    """Replace the rules and clear the log and markers of earlier tests."""
    for old in [*folder.glob("hung-*"), folder / "log.jsonl"]:
        old.unlink(missing_ok=True)
    (folder / "control.json").write_text(json.dumps(rules), encoding="utf-8")


def read_log(folder: Path) -> list[dict[str, object]]:
    """One entry per child: what it saw at start, with its end time where it exited normally."""
    path = folder / "log.jsonl"
    if not path.exists():
        return []
    starts: dict[int, dict[str, object]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if "start" in item:
            starts[int(item["pid"])] = item
        elif int(item["pid"]) in starts:
            starts[int(item["pid"])]["end"] = item["end"]
    return list(starts.values())


def overlapping(a: dict[str, object], b: dict[str, object]) -> bool:
    """Whether two children ran at the same time (both must have ended)."""
    return float(a["start"]) < float(b["end"]) and float(b["start"]) < float(a["end"])  # type: ignore[arg-type]

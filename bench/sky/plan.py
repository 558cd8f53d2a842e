"""``kbench sky plan``: one SkyPilot task file per candidate GPU, each measuring one scenario there.

Each task (SkyPilot's task YAML: ``resources``, ``workdir``, ``file_mounts``, ``setup``, ``run``; see
docs.skypilot.co, "SkyPilot YAML") syncs this project as the ``workdir``, mounts the scenario file and every
file or folder it references (:mod:`bench.sky.ship`: the scenario is then a copy naming them where they are
mounted), installs torch and the project in ``setup``, and in ``run`` calls ``kbench run`` of the scenario
with the results written on the machine's disk (one writer, atomic appends, as everywhere) and copied whole
to the results mount when the sweep ends, whatever its exit code. With a bucket the mount is SkyPilot storage
(``name``/``store``, ``mode: MOUNT``) and a restarted task resumes from the copy there (``--resume``); without
one the file stays in ``~/kbench-results`` on the machine, fetched with ``rsync`` (SkyPilot adds each cluster
to ``~/.ssh/config``).

Every local path a task names is copied by SkyPilot with ``rsync`` in a shell command in which it is quoted
as Python's ``repr`` quotes it: a path holding a ``'`` is then double-quoted, where the shell expands ``$(...)``
and backquotes, and a backslash or a control character turns into a different path. Such a path is refused
here (:func:`check_local_source`); a remote path is made of safe characters only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.errors import clip
from bench.sky.accelerators import SkyAccelerator

REMOTE_SCENARIO_DIR = "~/kbench-scenarios"
REMOTE_RESULTS_DIR = "~/kbench-results"  # on the machine's own disk: where kbench appends
RESULTS_MOUNT = "/kbench-results"  # the bucket, when there is one
DEFAULT_TORCH_INDEX = "https://download.pytorch.org/whl/cu128"
TORCH_VERSION = "2.13.0"
DEFAULT_DISK_GB = 200  # torch, CUDA libraries and, with weights: hub, the model downloads
STORES = ("s3", "gcs", "azure", "r2", "ibm", "oci", "nebius", "coreweave")  # SkyPilot storage stores


@dataclass(frozen=True)
class PlanOptions:
    """How the task files are written (shared by every candidate GPU)."""

    workdir: Path  # the project checkout SkyPilot syncs
    bucket: str | None = None
    store: str = "s3"
    torch_index: str = DEFAULT_TORCH_INDEX
    disk_gb: int = DEFAULT_DISK_GB
    use_spot: bool = False


def slug(text: str) -> str:
    """A name part SkyPilot accepts for a task and a cluster: lower-case letters, digits, '-'."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"


def results_name(scenario: str, gpu_id: str) -> str:
    return f"{slug(scenario)}-{slug(gpu_id)}.jsonl"


BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3 and GCS bucket names (the strictest rules)
_SHELL_SAFE = re.compile(r"[A-Za-z0-9._/~-]+")


def check_bucket(name: str) -> str:
    """A bucket name as the stores accept it (it is printed in commands and written in the task), else ValueError."""
    if not BUCKET_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a bucket name: 3-63 characters, lower-case letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def check_local_source(path: Path) -> str:
    """The resolved path as a task's ``workdir`` or ``file_mounts`` names it, if SkyPilot can copy it safely.

    Why: SkyPilot puts a local source into its ``rsync`` shell command quoted by ``repr`` (see the module
    docstring), so a path with a ``'`` would be run by the shell, and one with a backslash or a control
    character would name another file.

    Raises:
        ValueError: the path holds a ``'``, a backslash or a character that is not printable.
    """
    text = str(path.resolve())
    if "'" in text or "\\" in text or not text.isprintable():
        raise ValueError(
            f"{clip(text)} cannot be shipped: SkyPilot copies it with a shell command that a quote ('), a "
            "backslash or a control character in its path breaks; rename or move it"
        )
    return text


def remote_scenario_path(scenario: Path) -> str:
    """Where the scenario file is mounted on the machine: a name made of safe characters only, since it is
    written into the task's shell script (the user's file name is never run by a shell)."""
    suffix = ".yml" if scenario.suffix.lower() == ".yml" else ".yaml"
    return f"{REMOTE_SCENARIO_DIR}/{slug(scenario.stem)}{suffix}"


def task_document(
    scenario: Path,
    scenario_name: str,
    gpu_id: str,
    accel: SkyAccelerator,
    opts: PlanOptions,
    *,
    source: Path | None = None,
    inputs: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """The SkyPilot task for measuring ``scenario`` on one GPU, as the YAML document's mapping.

    ``source`` is the file mounted as the scenario (default: ``scenario`` itself; a copy naming the shipped
    references otherwise) and ``inputs`` the files and folders it references, by remote path
    (:func:`bench.sky.ship.plan_shipment`).

    Raises:
        ValueError: a bucket name the stores refuse, or a local path SkyPilot cannot copy safely.
    """
    if opts.bucket is not None:
        check_bucket(opts.bucket)
    remote_scenario = remote_scenario_path(scenario)
    out_name = results_name(scenario_name, gpu_id)
    resources: dict[str, Any] = {"accelerators": accel.resources, "disk_size": opts.disk_gb}
    if accel.infra:
        resources["infra"] = accel.infra
    if opts.use_spot:
        resources["use_spot"] = True
    mounts: dict[str, Any] = {remote_scenario: check_local_source(source or scenario)}
    for remote, local in (inputs or {}).items():
        if not _SHELL_SAFE.fullmatch(remote) or remote in mounts or remote == RESULTS_MOUNT:
            raise ValueError(f"{remote!r} is not a mount point a task can use for an input")
        mounts[remote] = check_local_source(local)
    if opts.bucket:
        mounts[RESULTS_MOUNT] = {"name": opts.bucket, "store": opts.store, "mode": "MOUNT"}
    return {
        "name": f"kbench-{slug(scenario_name)}-{slug(gpu_id)}",
        "resources": resources,
        "workdir": check_local_source(opts.workdir),
        "file_mounts": mounts,
        "envs": {"KBENCH_GPU": gpu_id, "KBENCH_RESULTS_NAME": out_name},
        "setup": _setup(opts),
        "run": _run(remote_scenario, out_name, bool(opts.bucket)),
    }


def _setup(opts: PlanOptions) -> str:
    pip = "~/kbench-venv/bin/pip install -q"
    return "\n".join(
        [
            "set -e",
            "python3 -m venv ~/kbench-venv",
            f"{pip} torch=={TORCH_VERSION} --index-url {shlex.quote(opts.torch_index)}",
            f"{pip} -e .",
            "~/kbench-venv/bin/kbench --version",
            "",
        ]
    )


def _run(remote_scenario: str, out_name: str, bucket: bool) -> str:
    for word in (remote_scenario, out_name):  # made of slugs; checked again where they meet the shell
        if not _SHELL_SAFE.fullmatch(word):
            raise ValueError(f"{word!r} cannot be written into a shell script unquoted")
    lines = [f"mkdir -p {REMOTE_RESULTS_DIR}", f'OUT="{REMOTE_RESULTS_DIR.replace("~", "$HOME")}/$KBENCH_RESULTS_NAME"']
    if bucket:  # a restarted task resumes from what the last attempt copied out
        lines.append(f'[ -f "$OUT" ] || cp {RESULTS_MOUNT}/{out_name} "$OUT" 2>/dev/null || true')
    lines += [
        'RESUME=""; [ -s "$OUT" ] && RESUME="--resume"',
        f'~/kbench-venv/bin/kbench run {remote_scenario} --executor local --out "$OUT" $RESUME '
        "--no-report --allow-failures",
        "rc=$?",
    ]
    if bucket:
        lines.append(f'cp "$OUT" {RESULTS_MOUNT}/{out_name}')  # a whole file, written once
    lines += ['echo "kbench: results in $OUT (exit $rc)"', "exit $rc", ""]
    return "\n".join(lines)


def render_task(document: dict[str, Any]) -> str:
    """The task as YAML text (block scalars for the scripts, keys in SkyPilot's documented order)."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _text)
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def launch_commands(task_file: Path, document: dict[str, Any], collect_dir: Path, bucket: str | None) -> list[str]:
    """The shell commands that run one task and bring its results home."""
    cluster = shlex.quote(document["name"])
    out = document["envs"]["KBENCH_RESULTS_NAME"]
    task = shlex.quote(str(task_file))
    if bucket:
        return [
            f"sky launch -y -c {cluster} --down {task}",
            f"# results: {RESULTS_MOUNT}/{out} in bucket {check_bucket(bucket)}",
        ]
    remote = shlex.quote(f"{document['name']}:{REMOTE_RESULTS_DIR}/{out}")  # the remote shell expands its ~
    return [
        f"sky launch -y -c {cluster} -i 15 {task}",
        f"rsync -Pavz {remote} {shlex.quote(str(collect_dir) + '/')}",
        f"sky down -y {cluster}",
    ]


__all__ = [
    "BUCKET_NAME",
    "DEFAULT_DISK_GB",
    "DEFAULT_TORCH_INDEX",
    "STORES",
    "PlanOptions",
    "check_bucket",
    "check_local_source",
    "launch_commands",
    "remote_scenario_path",
    "render_task",
    "results_name",
    "slug",
    "task_document",
]

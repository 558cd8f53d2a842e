"""What a SkyPilot task ships besides the project: the files and folders its scenario references.

A scenario names two kinds of local paths (:mod:`bench.scenario.schema`): ``prompt_set``, a text file read from
the working directory (:func:`bench.prompts.load_prompt_set`), and, for ``weights: hub`` runs, a ``hub`` role
whose location is a local folder rather than a hub id (told apart as :mod:`bench.models.hub` tells them). The
synced project holds neither at the path the scenario gives (the task's working directory is the project's
copy, not the folder ``sky plan`` ran in), so a task that did not ship them would fail on the rented machine
after its paid set-up. :func:`plan_shipment` gives each one a mount point under :data:`REMOTE_INPUTS_DIR` (the
task's ``file_mounts``) and rewrites the scenario to name those paths; a reference that cannot be shipped is
refused in one line, before any task file is written.

The remote names are made of :func:`~bench.sky.plan.slug` characters and a digest of the local path (two
``prompts.txt`` of different folders stay apart): SkyPilot writes a mount's destination into shell commands
unquoted. A folder is walked once: a symbolic link in it is refused, since SkyPilot's ``rsync -a`` copies the
link, not what it points to (a Hugging Face cache snapshot is made of such links).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.errors import KbenchError, ScenarioError, clip, located
from bench.models.hub import _is_local as is_local_location
from bench.sky.plan import check_local_source, slug
from bench.spec import RunSpec
from bench.yaml_files import read_yaml_document

REMOTE_INPUTS_DIR = "/kbench-inputs"  # absolute: a prompt_set path is not ~-expanded; SkyPilot links it there
MAX_FOLDER_ENTRIES = 100_000  # a model folder holds tens of files; far more is a wrong path ("~", "/")
HEADER = "# Written by kbench sky plan: the scenario, naming the files it references where the task mounts them.\n"
_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")


@dataclass(frozen=True)
class Shipment:
    """The scenario's references as the task ships them."""

    inputs: dict[str, Path]  # remote path -> the local file or folder mounted there
    scenario_text: str | None  # the scenario naming the remote paths; None: it references nothing to ship
    total_bytes: int = 0  # what the inputs add to each task's upload

    @property
    def rewritten(self) -> bool:
        """Whether the task mounts a rewritten copy of the scenario rather than the user's own file."""
        return self.scenario_text is not None


def remote_input_path(local: Path, remote_dir: str = REMOTE_INPUTS_DIR) -> str:
    """Where a referenced file or folder is mounted: its slugged name (SkyPilot puts it in shell commands
    unquoted), a digest of its local path (two ``prompts.txt`` of different folders stay apart), its suffix."""
    digest = hashlib.sha256(os.fsencode(local)).hexdigest()[:10]
    suffix = local.suffix.lower() if local.is_file() and _SUFFIX.fullmatch(local.suffix.lower()) else ""
    stem = local.stem if suffix else local.name
    return f"{remote_dir}/{slug(stem)[:60]}-{digest}{suffix}"


def plan_shipment(scenario: Path, specs: Sequence[RunSpec], remote_dir: str = REMOTE_INPUTS_DIR) -> Shipment:
    """The files and folders the runs of ``scenario`` (``specs``, as loaded from it) read, and its rewrite.

    Raises:
        KbenchError: a reference that cannot be shipped (missing, not a file or folder, a link in a folder, a
            path SkyPilot's copy breaks); one line naming the scenario file and the field.
    """
    renamed: dict[tuple[str, str], str] = {}  # ("prompt_set" | "hub", the scenario's text) -> remote path
    inputs: dict[str, Path] = {}
    total = 0
    for text in sorted({s.prompt_set for s in specs if s.prompt_set != "default"}):
        local = Path(text).resolve()  # relative to the working directory, as kbench run reads it
        if not local.is_file():
            raise KbenchError(
                located(f"{clip(text)} is not a file here; the task ships it", file=scenario, field="prompt_set")
            )
        total += local.stat().st_size
        renamed[("prompt_set", text)] = _add(inputs, local, remote_dir, scenario, "prompt_set")
    hub = {loc: role for s in specs if s.weights == "hub" for role, loc in s.hub.items() if is_local_location(loc)}
    for text, role in sorted(hub.items()):
        field = f"hub.{role}"
        local = Path(text).expanduser().resolve()
        if not local.is_dir():
            raise KbenchError(
                located(
                    f"{clip(text)} is not a folder here; a local model folder is shipped with the task, so it must "
                    "exist (or give a hub id)",
                    file=scenario,
                    field=field,
                )
            )
        total += _folder_bytes(local, scenario, field)
        renamed[("hub", text)] = _add(inputs, local, remote_dir, scenario, field)
    if not renamed:
        return Shipment({}, None)
    return Shipment(inputs, HEADER + _rewritten(scenario, renamed), total)


def _add(inputs: dict[str, Path], local: Path, remote_dir: str, scenario: Path, field: str) -> str:
    try:
        check_local_source(local)
    except ValueError as exc:
        raise KbenchError(located(str(exc), file=scenario, field=field)) from None
    remote = remote_input_path(local, remote_dir)
    inputs[remote] = local
    return remote


def _folder_bytes(folder: Path, scenario: Path, field: str) -> int:
    """The bytes of a folder's files; a symbolic link, or more than :data:`MAX_FOLDER_ENTRIES` entries, refused."""
    total = entries = 0
    for root, dirs, files in os.walk(folder):  # links to folders are listed in dirs, never followed
        for name, is_file in [*((d, False) for d in dirs), *((f, True) for f in files)]:
            entries += 1
            path = Path(root, name)
            if path.is_symlink():
                raise KbenchError(
                    located(
                        f"{clip(str(path))} is a symbolic link, which the task's copy would not follow; copy the "
                        "folder with its files (cp -rL) and name the copy",
                        file=scenario,
                        field=field,
                    )
                )
            if entries > MAX_FOLDER_ENTRIES:
                raise KbenchError(
                    located(
                        f"{clip(str(folder))} holds over {MAX_FOLDER_ENTRIES:,} entries; name the model's own folder",
                        file=scenario,
                        field=field,
                    )
                )
            if is_file:
                total += path.lstat().st_size
    return total


def _rewritten(scenario: Path, renamed: Mapping[tuple[str, str], str]) -> str:
    """The scenario file's YAML with each shipped reference replaced by its remote path (defaults included)."""
    _, data, _ = read_yaml_document(scenario, ScenarioError, "scenario file")
    entries: list[Any] = [data] if "scenarios" not in data else [data.get("defaults"), *data["scenarios"]]
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        prompt = entry.get("prompt_set")
        if isinstance(prompt, str) and ("prompt_set", prompt) in renamed:
            entry["prompt_set"] = renamed[("prompt_set", prompt)]
        hub = entry.get("hub")
        if isinstance(hub, dict):
            for role, location in hub.items():
                if isinstance(location, str) and ("hub", location) in renamed:
                    hub[role] = renamed[("hub", location)]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


__all__ = ["HEADER", "MAX_FOLDER_ENTRIES", "REMOTE_INPUTS_DIR", "Shipment", "plan_shipment", "remote_input_path"]

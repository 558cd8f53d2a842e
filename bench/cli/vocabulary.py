"""One flag vocabulary for every command: what each shared flag means, and the value names ``--help`` shows.

A flag means the same thing wherever it appears (``--out FILE`` is the file a command writes, ``--json`` prints
one JSON document to stdout, ``--gpu`` is a catalog id), so its value gets one name in every command's help:
:func:`name_values` gives each option that declares no metavar the name :data:`METAVARS` holds for its flag, or
a short one for its type (typer's own, ``<list[Path]>`` and ``<float range>``, crowd an 80-column help). The
CLI reference page (``docs/cli.md``) lists :data:`FLAGS` first.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

# The value each shared flag takes, by its name: the same word in every command's help.
METAVARS = {
    "--accelerator": "GPU=NAME",
    "--arrivals": "KIND",
    "--base": "REV",
    "--base-diffusers": "VERSION",
    "--base-hub": "ROLE=DIR",
    "--base-python": "PYTHON",
    "--baseline": "last:N",
    "--batch": "N",
    "--bucket": "NAME",
    "--cache-dir": "DIR",
    "--catalog": "FILE",
    "--confidence": "LEVEL",
    "--disk-gb": "GB",
    "--dtype": "DTYPE",
    "--executor": "NAME",
    "--figure": "FILE",
    "--gpu": "GPU",
    "--head": "REV",
    "--head-diffusers": "VERSION",
    "--head-hub": "ROLE=DIR",
    "--head-python": "PYTHON",
    "--json-out": "FILE",
    "--markdown-out": "FILE",
    "--max-batch": "N",
    "--max-price-age": "DAYS",
    "--max-runs": "N",
    "--max-s-per-image": "S",
    "--max-usd-per-hour": "USD",
    "--memory": "OPTION",
    "--min-effect": "FRACTION",
    "--min-headroom-gb": "GB",
    "--min-points": "N",
    "--min-reliability": "FRACTION",
    "--model": "MODEL",
    "--out": "FILE",
    "--plot": "FILE",
    "--price": "GPU=USD",
    "--price-stat": "STAT",
    "--project": "DIR",
    "--provider": "NAME",
    "--psnr-threshold": "DB",
    "--ray-address": "ADDRESS",
    "--ray-num-cpus": "N",
    "--rate": "RATE",
    "--recompare": "FILE",
    "--report-dir": "DIR",
    "--repo": "DIR",
    "--resolution": "WxH",
    "--results": "FILE",
    "--rounds": "N",
    "--save-images": "DIR",
    "--seed": "N",
    "--serve": "FILE",
    "--session-hours": "H",
    "--session-images": "N",
    "--setup-minutes": "MIN",
    "--slo-p99": "S",
    "--steps": "N",
    "--store": "STORE",
    "--summary": "FILE",
    "--task": "TASK",
    "--threshold": "RULE",
    "--thresholds": "FILE",
    "--tier": "TIER",
    "--timeout": "S",
    "--timings": "FILE",
    "--to": "FILE",
    "--top": "N",
    "--torch-index": "URL",
    "--usd-per-kwh": "USD",
    "--write": "FILE",
}
TYPE_METAVARS = {int: "N", float: "NUM", str: "TEXT", Path: "PATH"}

# The shared flags and what each means, wherever it appears (docs/cli.md opens with this table).
FLAGS = (
    ("--out FILE", "The file a command writes (`-o` for short where a command has one; `sky plan`: a folder)."),
    ("--json", "One JSON document on stdout instead of the tables (docs/json-output.md); warnings stay on stderr."),
    ("--json-out FILE", "The same document written to a file, beside the tables (`compare`, `ab`)."),
    ("--markdown", "GitHub markdown on stdout instead of the terminal tables."),
    ("--markdown-out FILE", "A markdown summary written to a file (`compare`)."),
    ("--force", "Replace an output that exists (without it a command refuses and says so)."),
    ("--gpu GPU", "A catalog GPU id (`kbench gpus` lists them); repeatable where a command compares GPUs."),
    ("--model MODEL", "A registered model id (`kbench models` lists them)."),
    ("--results FILE", "Results files (JSON lines) that measure or calibrate; repeatable."),
    ("--session-images N", "Cost a session of N images: model load, warmup and billing included."),
    ("--session-hours H", "Cost a session of H rented hours instead of N images."),
    ("--price GPU=USD", "Override a catalog price, in USD per GPU-hour; repeatable."),
    ("--catalog FILE", "Your own GPU YAML, merged over the bundled catalog."),
    ("--summary FILE", "A pull-request summary in markdown, with a .png figure beside it."),
    ("--wide", "Before the command (`kbench --wide ...`): tables as wide as they need, nothing left out."),
    ("--progress", "Before the command: stage lines on stderr for steps over 2 s (default: on a terminal only)."),
)


def _type_metavar(param: Any) -> str | None:
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    for kind, name in TYPE_METAVARS.items():
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return name
    return None


def name_values(command: Any) -> None:
    """Give every option of ``command`` and its subcommands that declares no metavar the vocabulary's one.

    Flags (``--json``, ``--spot``) take no value and keep none; an option whose flag the vocabulary does not
    know gets a short name for its type.
    """
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") != "option" or param.is_flag or param.metavar is not None:
            continue
        named = next((METAVARS[o] for o in param.opts if o in METAVARS), None)
        param.metavar = named or _type_metavar(param)
    for sub in getattr(command, "commands", {}).values():
        name_values(sub)


__all__ = ["FLAGS", "METAVARS", "TYPE_METAVARS", "name_values"]

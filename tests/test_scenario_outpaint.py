"""Outpainting from scenario to call plan: the margins a scenario gives (``outpaint:`` or ``expand: N``), the
canvas every run and record carries, the one-line errors for sizes a model cannot render, and the call plan
that counts, sizes and costs the canvas exactly as inpainting at that size."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from bench.cli import main
from bench.errors import ScenarioError
from bench.models.registry import call_plan
from bench.scenario import load_scenario_file
from bench.spec import DEFAULT_OUTPAINT_EXPAND, Outpaint, RunSpec, Workload
from tests.conftest import run_kbench
from tests.factories import TINY_CPU, tiny_spec

BASE = """\
scenarios:
  - name: a
    models: [kandinsky-2.2]
    tasks: [outpaint]
    weights: tiny
    device: cpu
    resolutions: [768x768]
"""


def test_expand_puts_the_source_on_a_larger_canvas_for_the_outpaint_runs_only(write_yaml):
    runs = load_scenario_file(write_yaml(BASE.replace("[outpaint]", "[inpaint, outpaint]") + "    expand: 128\n"))
    inpaint, outpaint = runs
    assert (inpaint.task, inpaint.outpaint, inpaint.canvas) == ("inpaint", None, (768, 768))
    assert outpaint.outpaint == Outpaint(
        left=128, right=128, top=128, bottom=128, overlap=0, canvas_width=1024, canvas_height=1024
    )
    assert (outpaint.resolution, outpaint.canvas) == ("768x768", (1024, 1024))
    assert outpaint.run_key == (
        "kandinsky-2.2|outpaint|768x768|s100|b1x1|fp16|none|tiny|cpu|en|outpaint=1024x1024@l128,r128,t128,b128"
    )
    assert inpaint.run_key == "kandinsky-2.2|inpaint|768x768|s100|b1x1|fp16|none|tiny|cpu|en"


def test_sides_and_an_overlap_or_the_default_expansion(write_yaml):
    sides = "    models: [sdxl-base]\n    outpaint: {left: 256, top: 64, overlap: 16}\n"
    text = "".join(line for line in BASE.splitlines(keepends=True) if "models:" not in line)
    (run,) = load_scenario_file(write_yaml(text + sides))
    assert run.outpaint is not None
    assert (run.outpaint.margins, run.outpaint.overlap, run.canvas) == ((256, 0, 64, 0), 16, (1024, 832))
    assert run.run_key.endswith("|outpaint=1024x832@l256,r0,t64,b0,o16")
    (default,) = load_scenario_file(write_yaml(BASE, "default.yaml"))
    assert default.outpaint is not None
    assert default.outpaint.margins == (DEFAULT_OUTPAINT_EXPAND,) * 4
    (block,) = load_scenario_file(write_yaml(BASE + "    outpaint: {expand: 64, overlap: 8}\n", "block.yaml"))
    assert (block.canvas, block.outpaint and block.outpaint.overlap) == ((896, 896), 8)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            "    outpaint: {left: 100, right: 128}\n",
            ":8: scenario 'a': outpaint.left: 100 is not possible for kandinsky-2.2; margins must be multiples of 64",
        ),
        ("    expand: 96\n", ":8: scenario 'a': expand: 96 is not possible for kandinsky-2.2; margins must be multip"),
        (
            "    expand: 704\n",
            "expand: the canvas 2176x2176 (768x768 plus margins left 704, right 704, top 704, bottom 704) is not "
            "possible for kandinsky-2.2; its sides must be at most 2048",
        ),
        ("    outpaint: {expand: 64, left: 64}\n", "outpaint.expand: give expand or the sides"),
        ("    outpaint: {overlap: 16}\n", "outpaint: extend at least one side (left, right, top, bottom)"),
        ("    outpaint: {expand: 64, overlap: 400}\n", "outpaint.overlap: 400 pixels is too many for a 768x768 source"),
        ("    outpaint: {expand: 64}\n    expand: 64\n", "expand: give expand: N or an outpaint: block, not both"),
        (
            "    outpaint: {lft: 64}\n",
            "outpaint.lft: unknown field; allowed: left, right, top, bottom, expand, overlap",
        ),
        ("    outpaint: {left: -64}\n", "outpaint.left: Input should be greater than or equal to 0"),
        ("    resolutions: [2048x2048]\n", "outpaint: the canvas 2304x2304 (2048x2048 plus margins left 128"),
        (
            "    models: [kandinsky-3]\n",
            "kandinsky-3 does not support 'outpaint'; it supports text2img, img2img",
        ),
    ],
)
def test_a_size_the_model_cannot_render_is_one_line_naming_the_field(write_yaml, extra, needle):
    given = {line.split(":")[0] for line in extra.splitlines()}
    text = "".join(line for line in BASE.splitlines(keepends=True) if line.split(":")[0] not in given)
    path = write_yaml(text + extra)
    with pytest.raises(ScenarioError) as err:
        load_scenario_file(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}:")
    assert needle in message


def test_the_command_line_refuses_it_with_exit_2(write_yaml):
    path = write_yaml(BASE + "    expand: 96\n")
    proc = run_kbench("validate", str(path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"kbench: error: {path}:8: scenario 'a': expand: 96 is not possible for kandinsky-2.2; margins must be "
        "multiples of 64 pixels"
    ]


def test_a_run_names_its_canvas_and_only_an_outpaint_run_has_one():
    with pytest.raises(ValidationError, match="task outpaint needs its canvas"):
        RunSpec(**{**TINY_CPU, "task": "outpaint"})
    with pytest.raises(ValidationError, match="no other task takes one"):
        RunSpec(**{**TINY_CPU, "task": "inpaint", "outpaint": Outpaint.around(64, 64, 16, 16, 0, 0)})
    with pytest.raises(ValidationError, match="canvas 96x64 is not the source 32x32 plus the margins"):
        tiny_spec(task="outpaint", width=32, height=32, outpaint=Outpaint.around(64, 64, 16, 16, 0, 0))
    with pytest.raises(
        ValidationError, match=r"outpaint\.overlap: 32 pixels is too many for a 64x64 source; at most 31"
    ):
        Outpaint.around(64, 64, 16, 16, 0, 0, overlap=32)
    spec = tiny_spec(task="outpaint")
    assert RunSpec.model_validate_json(spec.model_dump_json()) == spec  # a record reads back with its canvas


def test_a_workload_outpaints_by_the_default_unless_told_and_other_tasks_carry_no_margins():
    w = Workload(model="kandinsky-2.2", task="outpaint", width=768, height=768, steps=50)
    assert (w.outpaint, w.canvas, w.resolution) == ((128, 128, 128, 128), (1024, 1024), "768x768")
    spec = tiny_spec(task="outpaint", width=768, height=768, outpaint=Outpaint.around(768, 768, 128, 128, 128, 128))
    assert (Workload.from_spec(spec).outpaint, Workload.from_spec(spec).canvas) == (w.outpaint, w.canvas)
    assert w.with_(task="inpaint").outpaint is None
    left_only = Workload(
        model="kandinsky-2.2", task="outpaint", width=768, height=768, steps=50, outpaint=(256, 0, 0, 0)
    )
    assert left_only.canvas == (1024, 768)


@pytest.mark.parametrize("model", ["kandinsky-2.1", "kandinsky-2.2", "sdxl-base", "flux.1-dev"])
def test_the_call_plan_of_an_outpaint_is_inpainting_at_the_canvas(model):
    """Counting, VRAM and the projection read the plan, so an outpaint costs what inpainting the canvas costs."""
    outpaint = call_plan(Workload(model=model, task="outpaint", width=768, height=768, steps=50))
    inpaint = call_plan(Workload(model=model, task="inpaint", width=1024, height=1024, steps=50))
    assert (outpaint.size, outpaint.latent_hw, outpaint.roles) == (inpaint.size, inpaint.latent_hw, inpaint.roles)
    assert outpaint.size == (1024, 1024)


def _recommend(capsys: pytest.CaptureFixture[str], task: str, resolution: str) -> list[dict[str, Any]]:
    args = ["recommend", "--model", "kandinsky-2.2", "--task", task, "--resolution", resolution, "--steps", "50"]
    assert main([*args, "--provider", "runpod", "--json", "--no-guide-vram"]) == 0
    return [
        {key: row[key] for key in ("rank", "gpu", "memory", "s_per_image", "vram_needed", "usd_per_1k_images")}
        for row in json.loads(capsys.readouterr().out)["rows"]
    ]


def test_recommend_ranks_gpus_for_an_outpaint_as_for_inpainting_its_canvas(capsys):
    """``--task outpaint`` at 768x768 extends by the default 128 pixels a side: the 1024x1024 inpainting work."""
    outpaint = _recommend(capsys, "outpaint", "768x768")
    assert outpaint and outpaint == _recommend(capsys, "inpaint", "1024x1024")
    assert outpaint != _recommend(capsys, "inpaint", "768x768")


def test_recommend_refuses_an_outpaint_canvas_the_model_cannot_render(capsys):
    """2048x2048 plus the default margins is a 2304 canvas, over Kandinsky 2.2's 2048: one line, exit 2."""
    assert main(["recommend", "--model", "kandinsky-2.2", "--task", "outpaint", "--resolution", "2048x2048"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kbench: error: --resolution: --task outpaint: the canvas 2304x2304") and err.count("\n") == 1

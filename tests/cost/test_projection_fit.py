"""The published-timings dataset, the fit of the op-level model to it, and its cross-validation.

Counting every row's workload on meta takes about a minute on a cold cache; the cases are counted once per
module and reused.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter

import numpy as np
import pytest

from bench.cli import main
from bench.cost.catalog import load_catalog
from bench.cost.fit import NAMES, Design, cross_validate, fit, summarise
from bench.cost.intervals import LEVELS, apply, held_out_coverage, shipped_intervals
from bench.cost.roofline import constants_path, shipped_constants, stage_times
from bench.cost.timings import bundled_timings_path, dataset_sha256, load_timings
from bench.cost.validation import prepare_cases
from bench.errors import CatalogError

pytestmark = pytest.mark.slow
CAT = load_catalog()
ROWS = load_timings(CAT)
FITTED = [r for r in ROWS if r.use == "fit"]


@pytest.fixture(scope="module")
def cases():
    return prepare_cases(CAT, FITTED)


@pytest.fixture(scope="module")
def design(cases):
    return Design(cases)


@pytest.fixture(scope="module")
def fitted(design):
    return fit(design)


def test_the_dataset_is_large_varied_and_every_row_names_its_source_and_conditions():
    assert len(FITTED) >= 40
    assert len({r.gpu for r in FITTED}) >= 10
    assert len({r.model for r in FITTED}) >= 5
    for row in ROWS:
        assert row.source.startswith("https://"), row.id
        assert row.stack and row.attention and row.date and len(row.why) >= 20, row.id
    for row in FITTED:  # like-for-like: eager PyTorch, fused attention
        assert row.engine == "eager" and row.attention in ("sdpa", "xformers", "flash-attention"), row.id
    assert Counter(r.engine for r in ROWS if r.use == "exclude")["torch.compile"] >= 5  # compiled rows are kept


def _dataset(tmp_path, row: str):
    path = tmp_path / "timings.yaml"
    path.write_text("rows:\n" + textwrap.indent(textwrap.dedent(row), "  "), encoding="utf-8")
    return path


GOOD = """\
- id: mine
  gpu: rtx4090
  model: sd-1.5
  resolution: 512x512
  steps: 50
  batch_size: 1
  dtype: fp16
  measure: step
  unit: it_per_s
  value: 40
  engine: eager
  attention: sdpa
  stack: PyTorch 2.0
  use: fit
  date: 2024-01
  source: https://example.org/bench
  why: the stock pipeline, fp16, SDPA, not compiled
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("engine: eager", "engine: torch.compile"), "rows[mine]: a torch.compile row is not like-for-like"),
        (("attention: sdpa", "attention: eager-math"), "rows[mine]: attention 'eager-math' is not a fused kernel"),
        (("source: https://example.org/bench", "source: a blog"), "rows[mine].source: must be the URL"),
        (("gpu: rtx4090", "gpu: rtx9090"), "rows[mine].gpu: unknown GPU 'rtx9090'"),
        (("unit: it_per_s", "unit: s_per_image"), "rows[mine]: unit 's_per_image' does not time a 'step'"),
        (("stack: PyTorch 2.0", "stack: PyTorch 2.0\n  clock: 2.5 GHz"), "rows[mine].clock: unknown field"),
    ],
)
def test_a_bad_row_is_one_error_naming_the_row_and_the_field(tmp_path, change, message):
    assert load_timings(CAT, _dataset(tmp_path, GOOD))[0].seconds == pytest.approx(1 / 40)
    with pytest.raises(CatalogError) as err:
        load_timings(CAT, _dataset(tmp_path, GOOD.replace(*change)))
    assert message in str(err.value) and "timings.yaml" in str(err.value)


def test_the_fit_reproduces_the_shipped_constants(fitted):
    shipped = json.loads(constants_path().read_text(encoding="utf-8"))
    # fitted to this very dataset file
    assert shipped["inputs"]["dataset_sha256"] == dataset_sha256(bundled_timings_path()), "dataset changed: refit"
    assert shipped["inputs"]["rows_fitted"] == len(FITTED)
    assert set(shipped["params"]) == set(NAMES)
    refit = "refit: kbench projection-check --write bench/data/projection_constants.json"
    for name, value in fitted.params.items():
        assert value == pytest.approx(shipped["params"][name], rel=2e-3), f"{name} ({refit})"


def test_every_row_is_projected_by_the_same_model_as_any_workload(cases, design):
    constants = shipped_constants()
    fast = design.predict(constants)
    for case, seconds in zip(cases, fast, strict=True):
        times = stage_times(case.profile, case.gpu, constants, tf32=case.row.tf32)
        if case.row.measure == "step":
            expected = times.roofline_s["denoise"] * case.profile.images / case.row.steps
        else:
            expected = times.total() * (case.profile.images if case.row.measure == "call" else 1)
        assert seconds == pytest.approx(expected, rel=1e-9), case.row.id


def test_the_fit_beats_the_previous_roofline_in_sample(design, fitted):
    from bench.cost.fit import legacy_seconds

    before = np.log([legacy_seconds(c) for c in design.cases]) - np.log(design.observed)
    assert summarise(fitted.residuals)["median"] < summarise(before)["median"]


def test_cross_validation_projects_each_gpu_from_a_fit_without_it(design, fitted):
    held = cross_validate(design, lambda c: c.gpu.id, fitted.x)
    t4 = np.array([c.gpu.id == "t4" for c in design.cases])
    alone = fit(design.subset(~t4), fitted.x)
    direct = np.log(design.subset(t4).predict(alone.constants())) - np.log(design.observed[t4])
    np.testing.assert_allclose(held[t4], direct, rtol=1e-9)
    # the T4 is the only Turing card: held out, its memory multiplier falls back to the prior and it is too fast
    assert np.mean(np.abs(held[t4])) > np.mean(np.abs(fitted.residuals[t4]))


def test_kandinsky_is_fitted_from_published_batches_on_two_gpus():
    kandinsky = [r for r in FITTED if r.model.startswith("kandinsky")]
    assert {r.model for r in kandinsky} == {"kandinsky-2.2", "kandinsky-3"}
    assert {r.gpu for r in kandinsky} >= {"a100-40gb-sxm", "h100-sxm"}
    assert {r.batch_size for r in kandinsky} >= {1, 2, 4, 8, 16, 32, 64}
    shipped = json.loads(constants_path().read_text(encoding="utf-8"))
    for family in ("kandinsky2", "kandinsky3"):  # every family's held-out rows are covered by its band
        assert min(shipped["coverage_by_family"][family].values()) >= 0.8, family


def test_intervals_come_from_held_out_residuals_and_widen_with_what_the_fit_did_not_see():
    table = shipped_intervals()
    assert shipped_constants().meta["intervals"]["levels"] == list(LEVELS)
    assert table.fitted_gpus == {r.gpu for r in FITTED} and table.fitted_models == {r.model for r in FITTED}

    def width(gpu_id, family, model):
        lo, hi = apply(10.0, table.band(gpu_id, family, model, "unet"))
        assert lo < 10.0 < hi
        return hi / lo

    seen = width("rtx4090", "Ada", "sdxl-base")
    assert "kandinsky-2.1" not in table.fitted_models and "kandinsky-3" in table.fitted_models
    assert width("l40s", "Ada", "kandinsky-2.1") > max(
        width("rtx4090", "Ada", "kandinsky-2.1"), width("l40s", "Ada", "sdxl-base")
    )
    assert width("rtx4090", "Ada", "kandinsky-2.1") > width("rtx4090", "Ada", "kandinsky-3") > 1.0 and seen > 1.0
    residuals = np.array([-0.3, -0.1, 0.0, 0.1, 0.2, 2.0])
    assert held_out_coverage(residuals, ["a", "a", "b", "b", "c", "c"]) < 1.0  # an outlier group is not covered


def test_projection_check_prints_rows_and_cross_validated_summaries(tmp_path, capsys):
    rows = [r for r in FITTED if r.gpu in ("rtx4090", "rtx3090", "a100-80gb-sxm") and r.measure == "step"]
    text = "\n".join(_row_yaml(r) for r in rows)
    path = tmp_path / "mine.yaml"
    path.write_text("rows:\n" + textwrap.indent(text, "  "), encoding="utf-8")
    out_file = tmp_path / "constants.json"
    assert main(["projection-check", "--timings", str(path), "--write", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert rows[0].id in out and "leave-one-GPU-out" in out and "per GPU class" in out
    assert "Interval coverage per model family" in out
    assert json.loads(out_file.read_text())["inputs"]["rows_fitted"] == len(rows)


def _row_yaml(row) -> str:
    data = row.model_dump(exclude_none=True)
    lines = [f"- id: {data.pop('id')}"] + [f"  {k}: {json.dumps(v)}" for k, v in data.items()]
    return "\n".join(lines)

"""A published-timings dataset given to ``kbench projection-check --timings`` with numbers no benchmark has:
an infinite or vanishing figure, 1e30 prompts per call. One line naming the file, the row and the field, before
any workload is counted or any constant fitted.
"""

from __future__ import annotations

import pytest
import yaml

from bench.cost.timings import bundled_timings_path
from tests.hostile.conftest import refused, write


def _dataset_with(work, **changes: object):
    data = yaml.safe_load(bundled_timings_path().read_text(encoding="utf-8"))
    data["rows"][0].update(changes)
    return write(work / "timings.yaml", yaml.safe_dump(data, sort_keys=False)), data["rows"][0]["id"]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"value": float("inf")}, "value: Input should be a finite number"),
        ({"value": float("nan")}, "value: Input should be a finite number"),
        ({"value": 5e-324}, "value: Input should be greater than or equal to 0.000001"),
        ({"value": 1e308}, "value: Input should be less than or equal to 1000000"),
        ({"steps": 10**30}, "steps: Input should be less than or equal to 1000"),
        ({"batch_size": 10**30}, "batch_size: Input should be less than or equal to 256"),
        ({"images_per_prompt": 10**30}, "images_per_prompt: Input should be less than or equal to 256"),
    ],
    ids=["inf", "nan", "denormal", "1e308", "steps", "batch", "images-per-prompt"],
)
def test_an_absurd_published_figure_is_one_line(kb, work, changes, needle):
    path, row = _dataset_with(work, **changes)
    refused(kb("projection-check", "--timings", path, "--no-rows"), f"{path}: rows[{row}].{needle}")

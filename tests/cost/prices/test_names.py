"""gpuhunt's GPU names onto catalog ids: memory and instance names tell variants apart, assumptions are said."""

from __future__ import annotations

import pytest

from bench.cost.catalog import load_catalog
from bench.cost.prices.names import GPUHUNT_NAMES, match_gpu


@pytest.mark.parametrize(
    ("name", "memory", "instance", "gpu_id", "assumed"),
    [
        ("H100", 80, "gpu_1x_h100_pcie", "h100-pcie", False),
        ("H100", 80, "NVIDIA H100 80GB HBM3", "h100-sxm", False),
        ("H100", 80, "gpu_8x_h100_sxm5", "h100-sxm", False),
        ("H100", 80, "p5.48xlarge", "h100-sxm", True),  # no hint: SXM assumed, and said
        ("A100", 40, "gpu_1x_a100_pcie", "a100-40gb-pcie", False),
        ("A100", 40, "p4d.24xlarge", "a100-40gb-sxm", True),  # no hint: SXM4, the common 40GB card in clouds
        ("A100", 80, "NVIDIA A100-SXM4-80GB", "a100-80gb-sxm", False),
        ("A100", 80, "NVIDIA A100 80GB PCIe", "a100-80gb-pcie", False),
        ("V100", 16, "", "v100-sxm2-16gb", True),
        ("H100NVL", 94, "", "h100-nvl", False),
        ("L40", 48, "", "l40", False),
        ("GH200", 96, "", "gh200", False),
        ("RTXPRO6000", 96, "", "rtx-pro-6000", False),
        ("rtx4090", 24, "", "rtx4090", False),  # gpuhunt's names are matched without case
        ("B200", 192, "", "b200", False),  # 180 GB usable of 192: within the tolerance
        ("RTX6000Ada", 48, "", "rtx6000-ada", False),
    ],
)
def test_names_map_onto_catalog_ids(name, memory, instance, gpu_id, assumed):
    match = match_gpu(name, memory, instance)
    assert match is not None and match.gpu_id == gpu_id
    assert (match.assumption is not None) == assumed


@pytest.mark.parametrize(
    ("name", "memory"),
    [("RTX3080", 10), ("A16", 16), ("RTX6000", 24), ("A100", 20), ("GH200", 144), (None, 24), ("RTX3060", 8)],
)
def test_cards_the_catalog_lacks_are_not_mapped(name, memory):
    assert match_gpu(name, memory) is None  # the Turing RTX 6000 is not the RTX 6000 Ada; a 3060 8GB is not the 12GB


def test_every_mapped_id_is_in_the_catalog_with_the_same_memory():
    catalog = load_catalog()
    for variants in GPUHUNT_NAMES.values():
        for v in variants:
            for gpu_id in filter(None, (v.gpu_id, v.pcie_id, v.sxm_id)):
                assert catalog.get(gpu_id).vram_gb == pytest.approx(v.vram_gb, rel=0.1), gpu_id

"""Recommendation ranking, impossible constraints, and the guide's VRAM table."""

from __future__ import annotations

import pytest

from bench.cost.catalog import load_catalog
from bench.cost.counting.profile import profile_workload
from bench.cost.recommend import Constraints, NoGpuFits, check_guide_vram, recommend
from bench.cost.vram import GIB, estimate_vram
from bench.errors import EXIT_USAGE
from bench.spec import Workload

CAT = load_catalog()
K22 = Workload(model="kandinsky-2.2", task="text2img", width=512, height=512, steps=50)
K3 = Workload(model="kandinsky-3", task="text2img", width=1024, height=1024, steps=50)


def test_ranked_by_usd_per_1k_and_constraints_hold():
    ranked = recommend(K22, CAT, Constraints(max_s_per_image=5.0, min_headroom_gb=2.0))
    costs = [e.usd_per_1k_images for e in ranked]
    assert costs == sorted(costs) and None not in costs
    assert all(e.s_per_image <= 5.0 and e.headroom_gb >= 2.0 for e in ranked)
    assert ranked[0].price_source.startswith("https://")


def test_provider_and_price_caps():
    ranked = recommend(K22, CAT, Constraints(providers=["runpod"], max_usd_per_hour=1.0))
    assert ranked and all(e.price_provider == "RunPod" and e.usd_per_hour <= 1.0 for e in ranked)


def test_constraints_that_exclude_everything_raise_a_clear_error():
    with pytest.raises(NoGpuFits) as info:
        recommend(K3, CAT, Constraints(max_s_per_image=0.001, min_headroom_gb=1.0))
    message = str(info.value)
    assert message.startswith("no GPU meets the constraints for kandinsky-3 text2img 1024x1024")
    assert "do not fit in VRAM with 1 GB headroom" in message
    assert "are slower than 0.001 s per image" in message
    assert info.value.exit_code == EXIT_USAGE


def test_kandinsky3_fp16_does_not_fit_24gb_without_offload():
    none = estimate_vram(profile_workload(K3))
    assert none.weights_gib > 22.0  # FLAN-UL2 encoder + 3 B UNet + MoVQ in fp16, all resident
    assert none.total_gib > CAT.get("rtx4090").vram_gb
    offload = estimate_vram(profile_workload(K3), "model_cpu_offload")
    assert offload.total_gib >= 8.72e9 * 2 / GIB  # the text encoder alone (8.72 B parameters), whole, on the GPU
    assert offload.total_gib < 24


def test_guide_vram_table_verdicts():
    checks = {c.row.label: c for c in check_guide_vram(CAT)}
    k3 = checks["Kandinsky 3"]
    assert ("fp16", "model_cpu_offload") not in k3.holds_under  # 16.25 GiB of text encoder > 12 GB
    assert ("fp16", "sequential_cpu_offload") in k3.holds_under
    assert k3.verdict.startswith("holds under")
    k22 = checks["Kandinsky 2.2"]
    assert ("fp16", "none") not in k22.holds_under  # 4.7 B parameters resident: > 8 GB
    assert ("fp16", "model_cpu_offload") in k22.holds_under


def test_memory_auto_runs_kandinsky3_on_a_24gb_card_with_model_offload():
    gpus = ["rtx4090", "a100-80gb-sxm"]
    plain = recommend(K3, CAT, Constraints(require_price=False), gpu_ids=gpus)
    assert [e.gpu_id for e in plain] == ["a100-80gb-sxm"]  # memory none: 28+ GiB, the 4090 is dropped
    auto = {e.gpu_id: e for e in recommend(K3, CAT, Constraints(require_price=False), gpu_ids=gpus, memory_auto=True)}
    rtx = auto["rtx4090"]
    assert rtx.memory == "model_cpu_offload" and rtx.fits and rtx.vram_needed_gb < 24
    assert auto["a100-80gb-sxm"].memory == "none"  # the fastest option wherever it fits
    tight = recommend(K3, CAT, Constraints(require_price=False, min_headroom_gb=4.0), gpu_ids=gpus, memory_auto=True)
    assert {e.gpu_id: e.memory for e in tight}["rtx4090"] == "sequential_cpu_offload"  # model offload leaves < 4 GB

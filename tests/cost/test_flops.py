"""FLOP, byte and activation counting against analytic counts, then on the full-size models (meta)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.cost.flops import STAGES, Workload, count_call, count_component, count_module, flops_table, profile_workload


def test_linear_counts_match_the_analytic_count():
    lin = torch.nn.Linear(16, 32)
    x = torch.zeros(8, 16)
    c = count_module(lin, x)
    assert c.kernels == 1  # addmm; the weight transpose is a view, not a kernel
    assert c.total_flops == 2 * 8 * 16 * 32
    # reads x (8*16), W (16*32), b (32); writes y (8*32); fp32 = 4 bytes
    assert c.total_bytes == 4 * (8 * 16 + 16 * 32 + 32 + 8 * 32)
    assert c.weight_bytes == 4 * (16 * 32 + 32)


def test_conv_relu_stack_counts_and_activation_peak():
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1))
    x = torch.zeros(2, 4, 16, 16)
    c = count_module(net, x)
    conv1 = 2 * (2 * 8 * 16 * 16) * (4 * 3 * 3)  # 2 FLOPs per MAC, per output element Cin*k*k MACs
    conv2 = 2 * (2 * 2 * 16 * 16) * 8
    assert c.flops.tolist() == [conv1, 0, conv2]  # element-wise ReLU costs bytes, not FLOPs
    x_b, h_b, y_b = 4 * 2 * 4 * 256, 4 * 2 * 8 * 256, 4 * 2 * 2 * 256
    assert c.bytes.tolist() == [x_b + 4 * (8 * 36 + 8) + h_b, 2 * h_b, h_b + 4 * (2 * 8 + 2) + y_b]
    # peak live: input + conv1 out + relu out (conv1 out is still referenced while ReLU runs)
    assert c.activation_peak_bytes == x_b + 2 * h_b
    with FlopCounterMode(display=False) as ref:
        net(x)
    assert c.total_flops == ref.get_total_flops()


def test_attention_is_one_fused_kernel_on_meta():
    b, h, seq, d = 2, 4, 64, 16

    def attend(q, k, v):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    q = torch.empty(b, h, seq, d, device="meta")
    c = count_call(attend, q, q.clone(), q.clone())
    assert c.kernels == 1  # no decomposition into bmm/softmax/bmm
    assert c.total_flops == 4 * b * h * seq * seq * d  # QK^T and AV, 2 FLOPs per MAC
    assert c.total_bytes == 4 * (4 * b * h * seq * d)  # Q, K, V read, O written; no seq x seq matrix


def test_kandinsky22_unet_step_on_meta_grows_with_pixels():
    c512 = count_component("kandinsky-2.2", "decoder", "unet", 2, 64, 64, "fp16")
    c768 = count_component("kandinsky-2.2", "decoder", "unet", 2, 96, 96, "fp16")
    assert count_component("kandinsky-2.2", "decoder", "unet", 2, 64, 64, "fp16") is c512  # cached
    ratio = c768.total_flops / c512.total_flops
    assert 2.25 <= ratio <= 2.25**2  # convs scale with pixels, self-attention with pixels squared
    assert c768.total_bytes > c512.total_bytes
    assert c768.activation_peak_bytes > c512.activation_peak_bytes
    assert 1.2e9 < c512.weight_bytes / 2 < 1.3e9  # 1.25 B parameters in fp16


def test_unet_count_agrees_with_pytorch_flop_counter():
    from bench.cost.flops import _component_call, build_components

    unet = build_components("kandinsky-2.2", "decoder", "fp16")["unet"]
    fn, args, kwargs = _component_call("unet", unet, 2, 64, 64, torch.float16)
    with torch.no_grad(), FlopCounterMode(display=False) as ref:
        fn(*args, **kwargs)
    ours = count_component("kandinsky-2.2", "decoder", "unet", 2, 64, 64, "fp16").total_flops
    assert ours == pytest.approx(ref.get_total_flops(), rel=1e-9)


def test_workload_profile_accounts_for_cfg_steps_and_batch():
    base = Workload(model="kandinsky-2.2", task="text2img", width=512, height=512, steps=50)
    prof = profile_workload(base)
    unet = next(p for p in prof.parts if p.component == "unet")
    assert (unet.batch, unet.repeats) == (2, 50.0)  # CFG doubles the UNet batch
    no_cfg = profile_workload(base.with_(guidance_scale=1.0))
    assert next(p for p in no_cfg.parts if p.component == "unet").batch == 1
    assert no_cfg.stage_flops_per_image("denoise") == pytest.approx(prof.stage_flops_per_image("denoise") / 2, rel=0.01)
    more_steps = profile_workload(base.with_(steps=100))
    assert more_steps.stage_flops_per_image("denoise") == pytest.approx(2 * prof.stage_flops_per_image("denoise"))
    assert set(prof.weights_by_component) >= {"prior/prior", "prior/image_encoder", "decoder/unet", "decoder/movq"}
    row = flops_table([base])[0]
    assert row.total_tflops == pytest.approx(sum(row.stage_tflops[s] for s in STAGES))

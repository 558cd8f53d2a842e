"""FLOP, byte and activation counting against analytic counts, then on the full-size models (meta)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.cost.counting.ops import count_call, count_module
from bench.cost.counting.profile import count_component, profile_workload
from bench.cost.counting.rows import flops_table
from bench.models.callplan import k5_image_tokens, refiner_split
from bench.models.registry import get_model
from bench.spec import STAGES, Workload


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
    from bench.cost.counting.inputs import component_call
    from bench.cost.counting.meta import build_components

    unet = build_components("kandinsky-2.2", "decoder", "fp16")["unet"]
    fn, args, kwargs = component_call("unet", unet, 2, 64, 64, torch.float16)
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


# --- SDXL, FLUX.1 and Kandinsky 5 ------------------------------------------------------------------------


def test_flux_transformer_step_matches_the_per_layer_count():
    """One FLUX.1 [dev] transformer call at 1024x1024: 4096 packed image tokens + 512 T5 tokens.

    Hand count (widths from flux_dev_transformer.json: 24 heads x 128 = 3072, MLP 4 x 3072 = 12288):
    each double block gives every token its own stream's qkv (3 x 3072^2), out (3072^2) and MLP
    (2 x 3072 x 12288) = 113.2 M weights; each single block gives every token qkv (3 x 3072^2), proj_mlp
    (3072 x 12288) and proj_out ((3072 + 12288) x 3072) = 113.2 M; 19 + 38 blocks. Joint attention over all
    4608 tokens costs 4 * L^2 * 3072 per block. AdaLN modulation (3.3 B parameters) acts once per image.
    """
    d, ff, tokens = 3072, 12288, 4096 + 512
    per_block = 4 * d * d + 2 * d * ff
    assert per_block == 3 * d * d + d * ff + (d + ff) * d  # double and single blocks carry the same per-token weights
    linear = 2 * per_block * tokens * (19 + 38)
    attention = 4 * tokens**2 * d * (19 + 38)
    c = count_component("flux.1-dev", "main", "transformer", 1, 128, 128, "fp16")
    assert c.total_flops == pytest.approx(linear + attention, rel=0.01)  # embedders and norms are the rest
    # The 2 x parameters x tokens rule over-counts by the per-image modulation weights: stated ratio 0.6-0.75.
    params = c.weight_bytes / 2
    assert 11.8e9 < params < 12.0e9
    assert 0.60 < c.total_flops / (2 * params * tokens) < 0.75


def test_new_models_count_cfg_text_length_and_decode_as_their_pipelines():
    flux = profile_workload(Workload(model="flux.1-dev", task="text2img", width=1024, height=1024, steps=28))
    den = next(p for p in flux.parts if p.component == "transformer")
    assert (den.batch, den.repeats) == (1, 28.0)  # guidance-distilled: one pass per step despite guidance 3.5
    schnell_w = Workload(model="flux.1-schnell", task="text2img", width=1024, height=1024, steps=4)
    schnell = next(p.count for p in profile_workload(schnell_w).parts if p.component == "text_encoder_2")
    dev = next(p.count for p in flux.parts if p.component == "text_encoder_2")
    assert dev.total_flops == pytest.approx(2 * schnell.total_flops, rel=0.05)  # T5 at 512 vs 256 tokens
    k5 = profile_workload(Workload(model="kandinsky-5-lite", task="text2img", width=1024, height=1024, steps=50))
    den = next(p for p in k5.parts if p.component == "transformer")
    assert (den.batch, den.repeats) == (1, 100.0)  # guidance 3.5: two transformer calls per step
    no_cfg = profile_workload(k5.workload.with_(guidance_scale=1.0))
    assert no_cfg.stage_flops_per_image("denoise") == pytest.approx(k5.stage_flops_per_image("denoise") / 2)
    sdxl = profile_workload(Workload(model="sdxl-base", task="text2img", width=1024, height=1024, steps=50))
    unet = next(p for p in sdxl.parts if p.component == "unet")
    assert (unet.batch, unet.repeats) == (2, 50.0)
    assert {p.component for p in sdxl.parts} == {"text_encoder", "text_encoder_2", "unet", "vae"}
    vae = next(p for p in sdxl.parts if p.component == "vae")
    flux_vae = next(p for p in flux.parts if p.component == "vae")
    assert vae.count.weight_bytes == 4 * 83_653_863  # force_upcast: an fp16 SDXL decodes with fp32 weights
    assert flux_vae.count.weight_bytes == 2 * (83_819_683)  # FLUX.1 decodes in the pipeline dtype
    row = flops_table([k5.workload])[0]
    assert row.denoiser_calls_per_step == 2 and row.method == "counted on meta"


# (smaller, larger): Kandinsky 5 generates only at its trained sizes, so both are trained sizes
SIZES = {"kandinsky-5-lite": ((1280, 768), (1024, 1024))}


@pytest.mark.parametrize("model", ["sdxl-base", "flux.1-schnell", "kandinsky-5-lite"])
def test_more_pixels_or_steps_never_count_fewer_flops(model):
    (w0, h0), (w1, h1) = SIZES.get(model, ((768, 768), (1024, 1024)))
    base = Workload(model=model, task="text2img", width=w0, height=h0, steps=4)
    small = profile_workload(base).flops_per_image()
    assert profile_workload(base.with_(width=w1, height=h1)).flops_per_image() > small
    assert profile_workload(base.with_(steps=8)).flops_per_image() > small
    assert (
        profile_workload(base.with_(width=w1, height=h1)).bytes_per_image() > profile_workload(base).bytes_per_image()
    )


def test_kandinsky_5_counts_the_trained_size_it_generates():
    """Kandinsky5T2IPipeline snaps other sizes to the trained size of the nearest aspect ratio (768x768: 1024x1024)."""
    square = Workload(model="kandinsky-5-lite", task="text2img", width=768, height=768, steps=4)
    assert (
        profile_workload(square).flops_per_image()
        == profile_workload(square.with_(width=1024, height=1024)).flops_per_image()
    )


def test_refiner_split_matches_the_diffusers_cutoff():
    # cut-off timestep round(1000 - 0.8 * 1000) = 200; leading spacing with offset 1
    assert refiner_split(get_model("sdxl-base"), 50) == (40, 10)  # 981 ... 201 on the base, 181 ... 1 on the refiner
    assert refiner_split(get_model("sdxl-base"), 30) == (23, 7)  # step 33: 958 ... 232 (23), 199 ... 1 (7)
    assert refiner_split(get_model("sdxl-base"), 5) == (4, 1)


def test_sdxl_refiner_parts():
    w = Workload(model="sdxl-base", task="text2img", width=1024, height=1024, steps=50, images_per_prompt=2)
    on = profile_workload(w.with_(refiner=True))
    got = [(p.stage, p.role, p.component, p.batch, p.repeats) for p in on.parts]
    assert got == [
        ("text_encode", "main", "text_encoder", 1, 1),
        ("text_encode", "main", "text_encoder_2", 1, 1),
        ("denoise", "main", "unet", 4, 40.0),
        ("text_encode", "refiner", "text_encoder_2", 2, 2),  # one prompt per image, then the empty negative
        ("denoise", "refiner", "unet", 4, 10.0),
        ("decode", "refiner", "vae", 2, 1),
    ]
    refiner_unet = next(p for p in on.parts if p.role == "refiner" and p.component == "unet")
    assert refiner_unet.count.weight_bytes == 2 * 2_259_526_660
    # shared text_encoder_2 and vae are held once; the refiner adds only its UNet
    off = profile_workload(w)
    assert set(on.weights_by_component) - set(off.weights_by_component) == {"refiner/unet"}


def test_k5_image_tokens_follow_the_halving_and_28_pixel_rounding():
    assert k5_image_tokens(1024, 1024) == (36 * 36, 18 * 18)  # 512 -> 504 = 18 x 28 per side
    assert k5_image_tokens(1408, 640) == (50 * 22, 25 * 11)  # 704 -> 700, 320 -> 308


def test_k5_image_editing_counts_the_source_image_in_encoder_and_transformer():
    t2i = profile_workload(Workload(model="kandinsky-5-lite", task="text2img", width=1024, height=1024, steps=50))
    i2i = profile_workload(t2i.workload.with_(task="img2img", strength=0.3))
    parts = {p.component: p for p in i2i.parts}
    assert {p.role for p in i2i.parts} == {"edit"}
    assert (parts["transformer"].batch, parts["transformer"].repeats) == (1, 100.0)  # no strength: all 50 steps
    # the I2I transformer reads 2 * 16 + 1 latent channels: 17 more input rows of the 2x2x2560 patch embedding
    assert i2i.weights_by_component["edit/transformer"] - t2i.weights_by_component["main/transformer"] == 2 * (
        17 * 4 * 2560
    )
    # Qwen2.5-VL: the vision tower on 1296 patches, then 54 + 32 + 324 + 3 = 413 tokens instead of 40 + 32 = 72
    te_t2i = next(p for p in t2i.parts if p.component == "text_encoder").count.total_flops
    te_i2i = parts["text_encoder"].count.total_flops
    assert 413 / 72 < te_i2i / te_t2i < 413 / 72 + 2.5  # more than the token ratio: the vision tower on top
    # the transformer's text context grows from 32 to 32 + 324 + 3 tokens
    den_t2i = next(p for p in t2i.parts if p.component == "transformer").count.total_flops
    assert parts["transformer"].count.total_flops > den_t2i
    two = profile_workload(i2i.workload.with_(images_per_prompt=2))
    encoder = next(p for p in two.parts if p.component == "text_encoder")
    assert (encoder.batch, encoder.repeats) == (2, 2)  # one prompt per image, then the negatives

"""Full-size architectures built on the meta device must have the published parameter counts."""

from __future__ import annotations

import pytest
import torch

from bench.models.build import build_role_components, count_parameters

# Counted from the shipped configs; each matches the published size quoted beside it
# (bench/models/configs/SOURCES.md lists the source of every config and figure).
EXPECTED = {
    ("kandinsky-2.1", "prior", "prior"): 1_022_030_080,  # ~1B prior
    ("kandinsky-2.1", "prior", "image_encoder"): 303_966_208,  # CLIP ViT-L/14 vision, 304M
    ("kandinsky-2.1", "prior", "text_encoder"): 123_650_304,  # CLIP ViT-L/14 text, 123M
    ("kandinsky-2.1", "decoder", "text_encoder"): 560_677_632,  # M-CLIP XLM-R large, 560M
    ("kandinsky-2.1", "decoder", "unet"): 1_228_661_768,  # 1.22B
    ("kandinsky-2.1", "decoder", "movq"): 67_832_495,  # 67M
    ("kandinsky-2.1", "inpaint", "unet"): 1_228_679_048,  # 9 input channels
    ("kandinsky-2.2", "prior", "prior"): 1_026_225_920,  # ~1B
    ("kandinsky-2.2", "prior", "image_encoder"): 1_844_907_264,  # ViT-bigG/14, 1.8B
    ("kandinsky-2.2", "prior", "text_encoder"): 694_659_840,  # bigG text, 695M
    ("kandinsky-2.2", "decoder", "unet"): 1_253_057_288,  # "1.22B" (1.2B)
    ("kandinsky-2.2", "decoder", "movq"): 67_832_495,
    ("kandinsky-2.2", "inpaint", "unet"): 1_253_074_568,
    # FLAN-UL2 encoder: 8,590,201,344 in the layers (the published "8.6B") + 131,596,288 token embedding.
    ("kandinsky-3", "main", "text_encoder"): 8_721_797_632,
    ("kandinsky-3", "main", "unet"): 3_055_348_228,  # 3.0B
    ("kandinsky-3", "main", "movq"): 270_669_103,  # 267M published
    # SDXL base (Podell et al. 2023, arXiv:2307.01952): "2.6B" UNet; text encoders "817M" in total
    # (CLIP ViT-L 123M + OpenCLIP ViT-bigG 695M); VAE 83.7M.
    ("sdxl-base", "main", "unet"): 2_567_463_684,
    ("sdxl-base", "main", "text_encoder"): 123_060_480,
    ("sdxl-base", "main", "text_encoder_2"): 694_659_840,
    ("sdxl-base", "main", "vae"): 83_653_863,
    # SDXL refiner UNet: "2.3B" (SDXL paper, arXiv:2307.01952; stable-diffusion-xl-refiner-1.0 model card)
    ("sdxl-base", "refiner", "unet"): 2_259_526_660,
    # FLUX.1 (black-forest-labs model cards): "12 billion parameter rectified flow transformer";
    # T5-XXL v1.1 encoder 4.76B; CLIP ViT-L text 123M; 16-channel VAE 83.8M.
    ("flux.1-dev", "main", "transformer"): 11_901_408_320,
    ("flux.1-schnell", "main", "transformer"): 11_891_178_560,  # no guidance embedder (10.2M fewer)
    ("flux.1-dev", "main", "text_encoder_2"): 4_762_310_656,
    ("flux.1-dev", "main", "text_encoder"): 123_060_480,
    ("flux.1-dev", "main", "vae"): 83_819_683,
    # Kandinsky 5.0 Image Lite: "6B" DiT (diffusers kandinsky5_image docs); CLIP ViT-L text 123M.
    ("kandinsky-5-lite", "main", "transformer"): 6_022_080_576,
    ("kandinsky-5-lite", "main", "text_encoder_2"): 123_060_480,
    # I2I Lite: the same DiT reading 2 * 16 + 1 input channels (17 x 2x2 x 2560 = 174,080 more weights)
    ("kandinsky-5-lite", "edit", "transformer"): 6_022_254_656,
}
PUBLISHED_B = {  # coarse published sizes in billions, for a second, independent check
    ("kandinsky-2.2", "decoder", "unet"): 1.22,
    ("kandinsky-3", "main", "unet"): 3.0,
    ("kandinsky-2.2", "prior", "image_encoder"): 1.8,
    ("sdxl-base", "main", "unet"): 2.6,
    ("sdxl-base", "refiner", "unet"): 2.3,
    ("flux.1-dev", "main", "transformer"): 12.0,
    ("kandinsky-5-lite", "main", "transformer"): 6.0,
}


def test_sdxl_text_encoders_total_published_817m(meta_counts):
    total = meta_counts[("sdxl-base", "main", "text_encoder")] + meta_counts[("sdxl-base", "main", "text_encoder_2")]
    assert total / 1e6 == pytest.approx(817, abs=1)


@pytest.fixture(scope="module")
def meta_counts() -> dict[tuple[str, str, str], int]:
    counts = {}
    roles = {(m, r) for m, r, _ in EXPECTED}
    for model, role in sorted(roles):
        for name, module in build_role_components(model, role, "random", "meta", torch.float16).items():
            if isinstance(module, torch.nn.Module):
                assert all(p.device.type == "meta" for p in module.parameters())
                counts[(model, role, name)] = count_parameters(module)
    return counts


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_full_size_parameter_count(meta_counts, key):
    assert meta_counts[key] == EXPECTED[key]


@pytest.mark.parametrize("key", sorted(PUBLISHED_B))
def test_close_to_published_size(meta_counts, key):
    assert meta_counts[key] / 1e9 == pytest.approx(PUBLISHED_B[key], rel=0.05)


def test_k3_text_encoder_layers_match_published_8_6b(meta_counts):
    embedding = 32128 * 4096
    assert meta_counts[("kandinsky-3", "main", "text_encoder")] - embedding == pytest.approx(8.6e9, rel=0.005)


def test_random_weights_are_created_in_target_dtype():
    comps = build_role_components("kandinsky-2.2", "decoder", "tiny", "cpu", torch.bfloat16)
    assert {p.dtype for p in comps["unet"].parameters()} == {torch.bfloat16}
    assert torch.get_default_dtype() == torch.float32  # the context restored the default

"""gpuhunt's GPU names (plus VRAM and the instance name) onto catalog ids, saying where a variant is assumed.

gpuhunt names a GPU by its model only (``H100``, ``A100``, ``RTX4090``) and gives its memory in GB, so the
PCIe and SXM cards of one model share a name. Where the memory tells variants apart it decides; where it
cannot, the instance name does when it says ``pcie`` or ``sxm`` (RunPod's ``NVIDIA H100 PCIe``, Lambda's
``gpu_1x_h100_pcie``); otherwise the variant most cloud offers are is assumed, and the assumption is kept
with every offer so that ``kbench prices show`` prints it. Names the catalog has no entry for (RTX 3080, A16,
the Turing RTX 6000, ...) are not mapped and are counted as such.
"""

from __future__ import annotations

from dataclasses import dataclass

VRAM_TOLERANCE = 0.10  # reported memory within 10% of the card's (B200: 180 GB usable of 192)


@dataclass(frozen=True)
class Variant:
    """One catalog card a gpuhunt name may stand for: its VRAM, its id, and an id for PCIe/SXM hints."""

    vram_gb: float
    gpu_id: str
    pcie_id: str | None = None  # the id when the instance name says PCIe (no assumption then)
    sxm_id: str | None = None  # the id when the instance name says SXM (no assumption then)
    assumed: str | None = None  # what is assumed when the instance name gives no hint


GPUHUNT_NAMES: dict[str, tuple[Variant, ...]] = {
    "RTX3060": (Variant(12, "rtx3060"),),
    "RTX3090": (Variant(24, "rtx3090"),),
    "RTX4070Ti": (Variant(12, "rtx4070ti"),),
    "RTX4080": (Variant(16, "rtx4080"),),
    "RTX4080SUPER": (Variant(16, "rtx4080-super"),),
    "RTX4080S": (Variant(16, "rtx4080-super"),),  # Vast.ai's "RTX 4080S" as gpuhunt writes it
    "RTX4090": (Variant(24, "rtx4090"),),
    "RTX5070Ti": (Variant(16, "rtx5070ti"),),
    "RTX5080": (Variant(16, "rtx5080"),),
    "RTX5090": (Variant(32, "rtx5090"),),
    "A4000": (Variant(16, "rtx-a4000"),),
    "A5000": (Variant(24, "rtx-a5000"),),
    "A6000": (Variant(48, "rtx-a6000"),),
    "RTX6000Ada": (Variant(48, "rtx6000-ada"),),
    "RTXPRO6000": (Variant(96, "rtx-pro-6000"),),
    "T4": (Variant(16, "t4"),),
    "L4": (Variant(24, "l4"),),
    "A10": (Variant(24, "a10"),),
    "A10G": (Variant(24, "a10g"),),
    "A40": (Variant(48, "a40"),),
    "L40": (Variant(48, "l40"),),
    "L40S": (Variant(48, "l40s"),),
    "H100NVL": (Variant(94, "h100-nvl"),),
    "GH200": (Variant(96, "gh200"),),
    "V100": (
        Variant(
            16,
            "v100-sxm2-16gb",
            pcie_id="v100-pcie-16gb",
            sxm_id="v100-sxm2-16gb",
            assumed="V100 16GB without 'pcie' in the instance name assumed SXM2 (AWS p3, GCP, most clouds)",
        ),
        Variant(
            32,
            "v100-sxm2-32gb",
            pcie_id="v100-pcie-32gb",
            sxm_id="v100-sxm2-32gb",
            assumed="V100 32GB without 'pcie' in the instance name assumed SXM2 (AWS p3dn, most clouds)",
        ),
    ),
    "A100": (
        Variant(
            40,
            "a100-40gb-sxm",
            pcie_id="a100-40gb-pcie",
            sxm_id="a100-40gb-sxm",
            assumed="A100 40GB without 'pcie' in the instance name assumed SXM4 (AWS p4d, GCP a2, most clouds)",
        ),
        Variant(
            80,
            "a100-80gb-sxm",
            pcie_id="a100-80gb-pcie",
            sxm_id="a100-80gb-sxm",
            assumed="A100 80GB without 'pcie' in the instance name assumed SXM4 (AWS p4de, GCP a2-ultra, most clouds)",
        ),
    ),
    "H100": (
        Variant(
            80,
            "h100-sxm",
            pcie_id="h100-pcie",
            sxm_id="h100-sxm",
            assumed="H100 80GB without 'pcie' in the instance name assumed SXM (HGX: AWS p5, GCP a3, most clouds)",
        ),
    ),
    "H200": (Variant(141, "h200"),),
    "B200": (Variant(180, "b200"),),
}


@dataclass(frozen=True)
class NameMatch:
    """The catalog id an offer's GPU maps to, and the assumption made, if any."""

    gpu_id: str
    assumption: str | None


def _hint(instance: str) -> str | None:
    text = instance.lower().replace("-", "").replace("_", "").replace(" ", "")
    if "pcie" in text:
        return "pcie"
    if "sxm" in text or "hbm3" in text:
        return "sxm"
    return None


def match_gpu(name: str | None, memory_gb: float | None, instance: str = "") -> NameMatch | None:
    """The catalog card of a gpuhunt offer, or None when the catalog has no entry for it.

    Args:
        name: gpuhunt's GPU name (``H100``), case-insensitive.
        memory_gb: the GPU's memory as gpuhunt reports it; must be within 10% of the card's.
        instance: the instance name, read for a ``pcie``/``sxm`` hint where one name covers both cards.
    """
    if not name:
        return None
    variants = next((v for key, v in GPUHUNT_NAMES.items() if key.lower() == name.lower()), ())
    for variant in variants:
        if memory_gb is not None and abs(memory_gb - variant.vram_gb) > VRAM_TOLERANCE * variant.vram_gb:
            continue
        hint = _hint(instance)
        if hint == "pcie" and variant.pcie_id:
            return NameMatch(variant.pcie_id, None)
        if hint == "sxm" and variant.sxm_id:
            return NameMatch(variant.sxm_id, None)
        return NameMatch(variant.gpu_id, variant.assumed)
    return None


def assumptions() -> list[str]:
    """Every variant assumption the mapping can make, for the documentation and ``prices show``."""
    return [v.assumed for variants in GPUHUNT_NAMES.values() for v in variants if v.assumed]


__all__ = ["GPUHUNT_NAMES", "NameMatch", "Variant", "assumptions", "match_gpu"]

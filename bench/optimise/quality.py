"""The quality guard: a cell's images against the baseline cell's, by PSNR and SSIM (scikit-image).

The baseline of a run is the run with the same workload, seed, prompts and inputs and every optimisation
axis at its default: its run key is the run's key without the ``opt=`` part, and its images are the PNG
files the sweep saved under that key (``<images dir>/<key>_<i>.png``). PNG is lossless, so a setting that
leaves the computation unchanged gives identical 8-bit images (PSNR infinite); one that changes it (caching,
quantization) gives a finite PSNR. With random or tiny weights the images are noise, but the comparison
separates the two kinds just the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.optimise.static import installed
from bench.results.optimise import QualityStats
from bench.spec import Optimisation, RunSpec

DATA_RANGE = 255.0  # 8-bit images


def baseline_spec(spec: RunSpec) -> RunSpec:
    """The baseline cell of ``spec``: the same run with every optimisation axis at its default."""
    return spec.model_copy(update={"optimise": Optimisation()})


def image_stem(run_key: str) -> str:
    """The file-name stem of a run's saved images (the key with ``|`` and ``:`` replaced)."""
    return run_key.replace("|", "_").replace(":", "-")


def image_paths(directory: Path, run_key: str) -> list[Path]:
    """The saved images of ``run_key`` in call order (``<stem>_0.png``, ``<stem>_1.png``, ...)."""
    stem = image_stem(run_key)
    found = [p for p in directory.glob(f"{stem}_*.png") if p.stem[len(stem) + 1 :].isdigit()]
    return sorted(found, key=lambda p: int(p.stem[len(stem) + 1 :]))


def to_array(image: Any) -> Any:
    """An image (PIL, or an HxWxC array) as a uint8 RGB array."""
    import numpy as np

    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.dtype != np.uint8:
        array = np.clip(np.round(array * 255.0 if array.max() <= 1.0 else array), 0, 255).astype(np.uint8)
    return array


def psnr_ssim(reference: Any, image: Any) -> tuple[float, float]:
    """PSNR in dB (``inf`` for identical images) and SSIM of ``image`` against ``reference``, 8-bit RGB."""
    import numpy as np
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    ref, img = to_array(reference), to_array(image)
    if ref.shape != img.shape:
        raise ValueError(f"image shape {img.shape} differs from the baseline's {ref.shape}")
    if np.array_equal(ref, img):
        return math.inf, 1.0
    psnr = float(peak_signal_noise_ratio(ref, img, data_range=DATA_RANGE))
    side = min(ref.shape[0], ref.shape[1])
    window = min(7, side if side % 2 else side - 1)  # SSIM's window must fit the (tiny) image
    ssim = float(structural_similarity(ref, img, data_range=DATA_RANGE, channel_axis=2, win_size=window))
    return psnr, ssim


def compare_images(images: list[Any], reference: list[Any], *, baseline_key: str, threshold_db: float) -> QualityStats:
    """Per-image PSNR/SSIM of ``images`` against ``reference`` (paired by index), flagged below the threshold."""
    if len(images) != len(reference):
        return QualityStats(
            baseline_key=baseline_key,
            threshold_db=threshold_db,
            note=f"{len(images)} image(s) against {len(reference)} baseline image(s): not compared",
        )
    pairs = [psnr_ssim(ref, img) for ref, img in zip(reference, images, strict=True)]
    psnr = [None if math.isinf(p) else round(p, 3) for p, _ in pairs]
    quality = QualityStats(
        baseline_key=baseline_key, psnr_db=psnr, ssim=[round(s, 5) for _, s in pairs], threshold_db=threshold_db
    )
    worst = quality.psnr_min
    return quality.model_copy(update={"changed": worst is not None and worst < threshold_db})


def quality_against_baseline(images: list[Any], directory: Path | None, spec: RunSpec) -> QualityStats:
    """This run's images against the baseline cell's saved images (a note when there are none to compare)."""
    from PIL import Image

    base = baseline_spec(spec)
    threshold = spec.optimise.quality_threshold_db
    if directory is None:
        note = "images not saved (kbench run saves them beside the results for optimisation sweeps)"
        return QualityStats(baseline_key=base.run_key, threshold_db=threshold, note=note)
    paths = image_paths(directory, base.run_key)
    if not paths:
        note = f"no baseline images in {directory.name}/ (the baseline cell has not run, or failed)"
        return QualityStats(baseline_key=base.run_key, threshold_db=threshold, note=note)
    reference = []
    for path in paths:
        with Image.open(path) as opened:
            reference.append(opened.convert("RGB"))
    quality = compare_images(images, reference, baseline_key=base.run_key, threshold_db=threshold)
    clip = clip_note(spec)
    return quality.model_copy(update={"note": clip}) if clip and quality.note is None else quality


def sweep_images_dir(specs: Sequence[RunSpec], results_path: Path) -> Path | None:
    """Where a sweep with speed settings keeps its images for the quality guard: ``<results>.images/`` beside it.

    None for a sweep without speed settings (it saves images only when asked).
    """
    if not any(spec.optimise.key_part for spec in specs):
        return None
    return results_path.with_name(results_path.stem + ".images")


def clip_note(spec: RunSpec) -> str | None:
    """Why no CLIP score is recorded: it needs ``hub`` weights and open_clip (with its own hub weights)."""
    if spec.weights != "hub":
        return None  # noise images: a CLIP score would mean nothing
    if not installed("open_clip"):
        return "CLIP score skipped: open_clip is not installed"
    return "CLIP score skipped: open_clip's weights are fetched from the hub, which this run does not reach"


__all__ = [
    "baseline_spec",
    "clip_note",
    "compare_images",
    "image_paths",
    "image_stem",
    "psnr_ssim",
    "quality_against_baseline",
    "sweep_images_dir",
    "to_array",
]

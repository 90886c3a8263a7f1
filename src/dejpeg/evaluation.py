"""Evaluation under the published conventions: compress a folder of references at each quality, restore, score.

Training validates with it; it imports nothing from training."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dejpeg.api import ModelLike, load_model, restore_array
from dejpeg.codec import decode, encode, load_rgb_u8, read_coefficients, read_qtables
from dejpeg.files import list_images
from dejpeg.jpeg import rgb_to_y_bt601_u8
from dejpeg.metrics import image_metrics
from dejpeg.models import default_model_name, parse_strength, resolve_precision

#: Reference images in these formats already carry JPEG artifacts.
LOSSY_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}


def load_reference(path: Path, gray: bool) -> np.ndarray:
    """The evaluation reference: RGB uint8, or MATLAB-style BT.601 Y for the grayscale track."""
    rgb = load_rgb_u8(path)
    return rgb_to_y_bt601_u8(rgb) if gray else rgb


def evaluate(
    data: str | os.PathLike,
    model: ModelLike = None,
    qualities: tuple[int, ...] | list[int] = (10, 20, 30, 40),
    gray: bool = False,
    subsampling: str = "420",
    max_images: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    consistency: bool = True,
    precision: str = "auto",
    strength: float | str | None = None,
) -> dict[str, Any]:
    """Compress every image of ``data`` at each quality, restore it, and score both against the original.

    Conventions of the published tables (``../shared/data/README.md``): colour (the default, as in ``dejpeg
    evaluate``) = RGB with 4:2:0; ``gray`` track = MATLAB-style Y coded as a grayscale JPEG; metrics by
    :mod:`dejpeg.metrics`. References should be lossless: JPEG references draw a warning.
    ``consistency`` applies the DCT consistency step, as :func:`restore` does by default; ``precision``
    as in :func:`restore_array`; ``strength`` as in :func:`dejpeg.api.load_model` (None: the model's best-PSNR
    setting).

    Returns:
        ``{"model", "data", "gray", "consistency", "precision", "strength", "computed_in", "images", "rows": [...]}``
        (``computed_in``: what ``precision`` resolved to here), one row per quality with the JPEG and
        restored means of psnr/ssim/psnrb, their gains, and megapixels per second of restoration.
    """
    was_training = isinstance(model, nn.Module) and model.training  # restored afterwards (validation in fit)
    net = load_model(model, device, strength)
    computed_in = resolve_precision(net, device, precision)
    reads_coefficients = "coefficients" in getattr(
        net, "side_info", ()
    )  # also refuses a precision the model lacks, up front
    files = list_images(data)[:max_images]
    lossy = [f for f in files if f.suffix.lower() in LOSSY_SUFFIXES]
    if lossy:
        warnings.warn(
            f"{len(lossy)} of {len(files)} reference images are JPEGs: scores are against lossy references, "
            "so the restoration is rewarded for copying their artifacts; use lossless originals (PNG etc.)",
            stacklevel=2,
        )
    references = [load_reference(f, gray) for f in files]
    rows = []
    try:
        for quality in qualities:
            jpeg_scores, restored_scores, seconds, pixels = [], [], 0.0, 0
            for ref in tqdm(references, desc=f"Q{quality}", disable=not progress, leave=False):
                data_bytes = encode(ref, quality=quality, subsampling=subsampling)
                damaged = decode(data_bytes)
                start = time.perf_counter()
                coefficients = read_coefficients(data_bytes) if consistency or reads_coefficients else None
                restored = restore_array(
                    damaged,
                    read_qtables(data_bytes),
                    net,
                    device,
                    coefficients=coefficients,
                    precision=precision,
                    consistency=consistency,
                )
                seconds += time.perf_counter() - start
                pixels += ref.shape[0] * ref.shape[1]
                jpeg_scores.append(image_metrics(damaged, ref))
                restored_scores.append(image_metrics(restored, ref))
            row: dict[str, Any] = {"quality": int(quality)}
            for key in ("psnr", "ssim", "psnrb"):
                before = float(np.mean([s[key] for s in jpeg_scores]))
                after = float(np.mean([s[key] for s in restored_scores]))
                row.update({f"jpeg_{key}": before, key: after, f"{key}_gain": after - before})
            row["megapixels_per_s"] = pixels / 1e6 / seconds
            rows.append(row)
    finally:
        net.train(was_training)
    if model is None:
        name = default_model_name()
    else:
        name = str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
    return {
        "model": name,
        "data": str(data),
        "gray": gray,
        "consistency": consistency,
        "precision": precision,
        "strength": None if strength is None else parse_strength(strength),
        "computed_in": computed_in,
        "images": len(files),
        "rows": rows,
    }

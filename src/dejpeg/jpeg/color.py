"""Colour conversions used by JPEG (JFIF full-range YCbCr) and by evaluation (MATLAB BT.601 Y)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

# JFIF (ITU-T T.871) full-range matrices, inputs in [0, 1]. The chroma offset is 8-bit 128
# scaled like the pixels (128/255, not 0.5), so that ``255 * output`` matches libjpeg's planes.
_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ]
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR.double()).float()
_CHROMA_OFFSET = torch.tensor([0.0, 128 / 255, 128 / 255])


def rgb_to_ycbcr_jfif(image: Tensor) -> Tensor:
    """JFIF YCbCr, the colour space JPEG codes in.

    Args:
        image: (B, 3, H, W) RGB float in [0, 1].

    Returns:
        (B, 3, H, W) Y, Cb, Cr in [0, 1] (Cb, Cr centred at 128/255, i.e. 8-bit planes / 255).
    """
    m = _RGB_TO_YCBCR.to(image)
    return torch.einsum("ij,bjhw->bihw", m, image) + _CHROMA_OFFSET.to(image).view(1, 3, 1, 1)


def ycbcr_jfif_to_rgb(image: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr_jfif` (no clamping, so it stays differentiable and exact)."""
    m = _YCBCR_TO_RGB.to(image)
    return torch.einsum("ij,bjhw->bihw", m, image - _CHROMA_OFFSET.to(image).view(1, 3, 1, 1))


class RgbToYcbcrJfif(nn.Module):
    """Module form of :func:`rgb_to_ycbcr_jfif`."""

    def forward(self, image: Tensor) -> Tensor:
        return rgb_to_ycbcr_jfif(image)


class YcbcrJfifToRgb(nn.Module):
    """Module form of :func:`ycbcr_jfif_to_rgb`."""

    def forward(self, image: Tensor) -> Tensor:
        return ycbcr_jfif_to_rgb(image)


def rgb_to_y_bt601_u8(image_u8: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma, the reference of published grayscale CAR tables.

    ``round(16 + (65.481 R + 128.553 G + 24.966 B) / 255)`` on 8-bit RGB, with MATLAB's
    round-half-up (``np.round`` rounds half to even, which differs on exact .5 values such
    as RGB (2, 44, 141) -> 52.5 -> 53).

    Args:
        image_u8: (H, W, 3) uint8 RGB.

    Returns:
        (H, W) uint8 Y in [16, 235].
    """
    if image_u8.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image_u8.dtype}")
    if image_u8.ndim != 3 or image_u8.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) RGB, got shape {image_u8.shape}")
    rgb = image_u8.astype(np.float64)
    y = 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0
    return np.floor(y + 0.5).astype(np.uint8)


def ycbcr_u8_to_rgb_u8(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """JFIF YCbCr planes to RGB in libjpeg's 16-bit fixed point (``jdcolor.c``): exact integers, so every machine
    gives the same bytes.

    Args:
        y, cb, cr: (H, W) uint8 planes at full resolution.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    y = y.astype(np.int32)
    cb, cr = cb.astype(np.int32) - 128, cr.astype(np.int32) - 128
    half = 1 << 15
    red = y + ((91881 * cr + half) >> 16)  # FIX(1.40200)
    green = y + ((-22554 * cb - 46802 * cr + half) >> 16)  # FIX(0.34414), FIX(0.71414)
    blue = y + ((116130 * cb + half) >> 16)  # FIX(1.77200)
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)


def upsample_420_u8(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """A 4:2:0 chroma plane to ``height`` x ``width`` by libjpeg's "fancy" triangle filter (``h2v2_fancy_upsample``:
    each output pixel 9/16, 3/16, 3/16, 1/16 of its four nearest input pixels), in exact integers.

    Args:
        plane: (ceil(height / 2), ceil(width / 2)) uint8.
    """
    x = plane.astype(np.int32)
    rows, cols = np.arange(x.shape[0]), np.arange(x.shape[1])
    above, below = x[np.maximum(rows - 1, 0)], x[np.minimum(rows + 1, len(rows) - 1)]
    column_sums = np.stack([3 * x + above, 3 * x + below], axis=1).reshape(2 * x.shape[0], x.shape[1])
    left = column_sums[:, np.maximum(cols - 1, 0)]
    right = column_sums[:, np.minimum(cols + 1, len(cols) - 1)]
    even, odd = (3 * column_sums + left + 8) >> 4, (3 * column_sums + right + 7) >> 4
    out = np.stack([even, odd], axis=2).reshape(2 * x.shape[0], 2 * x.shape[1])
    return out[:height, :width].astype(np.uint8)

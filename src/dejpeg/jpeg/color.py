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

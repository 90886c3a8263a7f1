"""Cutting images into JPEG's 8x8 block grid and back (torch, differentiable)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

BLOCK = 8


def blockify(image: Tensor) -> Tensor:
    """Split into non-overlapping 8x8 blocks on the grid anchored at the top-left pixel.

    Args:
        image: (B, C, H, W) with H and W multiples of 8 (see :func:`pad_to_multiple`).

    Returns:
        (B, C, H/8, W/8, 8, 8); ``out[b, c, i, j]`` is rows ``8i:8i+8``, cols ``8j:8j+8``.
        A permuted view of the input (no copy), so writes to it would alias the input.
    """
    if image.ndim != 4:
        raise ValueError(f"expected (B, C, H, W), got shape {tuple(image.shape)}")
    b, c, h, w = image.shape
    if h % BLOCK or w % BLOCK:
        raise ValueError(f"H and W must be multiples of {BLOCK}, got {h}x{w}; pad first")
    return image.reshape(b, c, h // BLOCK, BLOCK, w // BLOCK, BLOCK).permute(0, 1, 2, 4, 3, 5)


def deblockify(blocks: Tensor) -> Tensor:
    """Inverse of :func:`blockify`: (B, C, H/8, W/8, 8, 8) to (B, C, H, W)."""
    if blocks.ndim != 6 or tuple(blocks.shape[-2:]) != (BLOCK, BLOCK):
        raise ValueError(f"expected (B, C, H/8, W/8, 8, 8), got shape {tuple(blocks.shape)}")
    b, c, rows, cols = blocks.shape[:4]
    return blocks.permute(0, 1, 2, 4, 3, 5).reshape(b, c, rows * BLOCK, cols * BLOCK)


def pad_to_multiple(image: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Replicate-pad bottom and right so H and W become multiples of ``multiple``.

    Only bottom/right, because the JPEG block grid starts at the top-left pixel: blocks of
    the padded image are the blocks an encoder sees. (libjpeg itself replicates the last
    column/row too, so this matches its edge handling.)

    Args:
        image: (..., H, W) float tensor (at least 2-D).
        multiple: block size to reach, e.g. 8, or 16 for a 4:2:0 MCU.

    Returns:
        The padded (new) tensor and the original ``(H, W)``, for cropping back with
        ``padded[..., :H, :W]``.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    if image.ndim < 2:
        raise ValueError(f"expected (..., H, W), got shape {tuple(image.shape)}")
    h, w = image.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    as_4d = image.reshape(-1, 1, h, w)
    padded = F.pad(as_4d, (0, pad_w, 0, pad_h), mode="replicate")
    return padded.reshape(*image.shape[:-2], h + pad_h, w + pad_w), (h, w)

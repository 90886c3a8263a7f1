"""Each 8x8 JPEG block with the blocks around it, as a batch of windows (BlockCNN-style per-block networks).

Why: a block's artifacts depend on its neighbours (edges cross block boundaries), so per-block networks see a
window of ``2 * context + 1`` blocks a side and answer for the centre block. The codec variant predicts a block
from blocks already decoded: with block (i, j) depending on its top-left, top, top-right and left neighbours,
all blocks with the same ``2 i + j`` are independent, so :func:`wavefront` groups them and
:func:`causal_context` gathers their contexts in one batch. All gathering is strided views and one index, no
Python loop over blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dejpeg.layers.block_dct import BLOCK


def _grid(image: Tensor) -> tuple[int, int]:
    if image.dim() != 4 or image.shape[-2] % BLOCK or image.shape[-1] % BLOCK:
        raise ValueError(f"expected a (B, C, H, W) image with H and W multiples of 8, got {tuple(image.shape)}")
    return image.shape[-2] // BLOCK, image.shape[-1] // BLOCK


def blocks_with_context(image: Tensor, context: int = 1, mode: str = "replicate") -> Tensor:
    """(B, C, H, W) -> (B * rows * cols, C, S, S) with ``S = 8 * (2 * context + 1)``: every block centred in
    its window, batch-major then raster block order. Beyond the image edge the window is padded with ``mode``
    (as ``F.pad``: "replicate", "reflect" or "constant" zeros)."""
    _grid(image)
    if context < 0:
        raise ValueError(f"context must be 0 or more blocks, got {context}")
    pad = BLOCK * context
    size = BLOCK * (2 * context + 1)
    padded = F.pad(image, (pad, pad, pad, pad), mode=mode) if pad else image
    windows = padded.unfold(2, size, BLOCK).unfold(3, size, BLOCK)  # (B, C, rows, cols, S, S), a view
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(-1, image.shape[1], size, size)


def fold_blocks(blocks: Tensor, rows: int, cols: int) -> Tensor:
    """Inverse of the block order of :func:`blocks_with_context`: (B * rows * cols, C, 8, 8) per-block outputs
    -> (B, C, 8 * rows, 8 * cols) image."""
    if blocks.dim() != 4 or tuple(blocks.shape[-2:]) != (BLOCK, BLOCK) or blocks.shape[0] % (rows * cols):
        raise ValueError(f"expected ({rows * cols}k, C, 8, 8) blocks, got {tuple(blocks.shape)}")
    channels = blocks.shape[1]
    grid = blocks.view(-1, rows, cols, channels, BLOCK, BLOCK).permute(0, 3, 1, 4, 2, 5)
    return grid.reshape(-1, channels, rows * BLOCK, cols * BLOCK)


def wavefront(rows: int, cols: int) -> list[Tensor]:
    """The decoding order for causal contexts: (N_t, 2) (row, col) positions of the blocks with ``2 i + j = t``
    for t = 0, 1, ...: every context block of a position lies in an earlier group (empty groups skipped)."""
    i, j = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    step = (2 * i + j).flatten()
    positions = torch.stack([i.flatten(), j.flatten()], dim=1)
    groups = (positions[step == t] for t in range(2 * rows + cols - 2))
    return [group for group in groups if len(group)]


def causal_context(decoded: Tensor, positions: Tensor, fill: float = 0.0) -> Tensor:
    """The 16x24 causal context of the blocks at ``positions``: (B * N, C, 16, 24), batch-major.

    Args:
        decoded: (B, C, H, W) image whose blocks before ``positions`` in :func:`wavefront` order are decoded
            (what the rest holds is never read).
        positions: (N, 2) long (row, col) block indices, e.g. one group of :func:`wavefront`.
        fill: the value of blocks outside the image and of the unknown ones (the current block and the one
            to its right), so that nothing undecoded leaks in.

    Returns:
        Windows whose top row holds the top-left, top and top-right blocks and whose bottom row the left block,
        then ``fill`` where the current and the right block are.
    """
    rows, cols = _grid(decoded)
    if positions.dim() != 2 or positions.shape[1] != 2:
        raise ValueError(f"expected (N, 2) block positions, got {tuple(positions.shape)}")
    i, j = positions.unbind(1)
    if len(positions) and not (i.min() >= 0 and j.min() >= 0 and i.max() < rows and j.max() < cols):
        raise ValueError(f"block positions outside the {rows}x{cols} grid")
    padded = F.pad(decoded, (BLOCK, BLOCK, BLOCK, 0), value=fill)  # a block left, right and above
    windows = padded.unfold(2, 2 * BLOCK, BLOCK).unfold(3, 3 * BLOCK, BLOCK)  # (B, C, rows, cols, 16, 24)
    context = windows[:, :, i, j].transpose(1, 2).reshape(-1, decoded.shape[1], 2 * BLOCK, 3 * BLOCK)
    context[..., BLOCK:, BLOCK:] = fill  # a fresh tensor: indexing copies
    return context

"""Where inside its 8x8 block the coding error falls (Maleki et al. 2018, "BlockCNN", Figure 2): JPEG codes every
block on its own, so its error grows towards the block's corners and edges; an artifact remover that sees the
neighbouring blocks should flatten that pattern."""

from __future__ import annotations

import torch

from dejpeg.metrics.psnr import check_pair

BLOCK = 8


def block_position_mse(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error at each of the 64 positions of the 8x8 blocks, over every whole block of each image.

    The grid starts at the top-left pixel, as JPEG's; the partial blocks at the right and bottom edges (sides not
    multiples of 8, which the encoder pads) are left out, so that every position is averaged over the same blocks.

    Args:
        input: (B, C, H, W) floating, e.g. the decoded or restored image, H and W at least 8.
        target: same shape, the reference.

    Returns:
        (B, 8, 8) float64: entry (u, v) is the MSE of the pixels at row u, column v of their block, over the blocks
        and channels of each image.

    Example:
        >>> error = torch.zeros(1, 1, 16, 16)
        >>> error[..., ::8, ::8] = 2.0  # the top-left pixel of every block off by 2
        >>> block_position_mse(error, torch.zeros_like(error))[0, :2, :2]
        tensor([[4., 0.],
                [0., 0.]], dtype=torch.float64)
    """
    check_pair(input, target, 1.0, "block_position_mse")
    batch, channels, height, width = input.shape
    rows, cols = height // BLOCK, width // BLOCK
    if rows == 0 or cols == 0:
        raise ValueError(f"block_position_mse: images hold no whole 8x8 block, got {height}x{width}")
    squared = (input.double() - target.double())[..., : rows * BLOCK, : cols * BLOCK].square()
    return squared.reshape(batch, channels, rows, BLOCK, cols, BLOCK).mean(dim=(1, 2, 4))


def block_position_structure(mse: torch.Tensor) -> dict[str, float]:
    """How much a (8, 8) per-position MSE map varies with the position, as three ratios (1 where it is flat):
    ``border_to_inner`` (mean of the 28 border positions over the mean of the 36 inner ones), ``corner_to_centre``
    (the 4 corners over the central 2x2) and ``variation`` (the coefficient of variation of the 64 values, 0 where
    flat).

    Example:
        >>> flat = torch.full((8, 8), 3.0, dtype=torch.float64)
        >>> block_position_structure(flat)
        {'border_to_inner': 1.0, 'corner_to_centre': 1.0, 'variation': 0.0}
    """
    if mse.shape != (BLOCK, BLOCK):
        raise ValueError(f"expected an (8, 8) map, got {tuple(mse.shape)}")
    grid = mse.double()
    inner = grid[1:-1, 1:-1]
    border_mean = (grid.sum() - inner.sum()) / (BLOCK * BLOCK - inner.numel())
    corners = grid[[0, 0, -1, -1], [0, -1, 0, -1]]
    centre = grid[3:5, 3:5]
    return {
        "border_to_inner": (border_mean / inner.mean()).item(),
        "corner_to_centre": (corners.mean() / centre.mean()).item(),
        "variation": (grid.std(correction=0) / grid.mean()).item(),
    }

"""Per-position error inside the 8x8 blocks (BlockCNN's Figure 2) on errors whose map is known."""

from __future__ import annotations

import pytest
import torch

from dejpeg.metrics import block_position_mse, block_position_structure

BORDER = torch.ones(8, 8, dtype=torch.bool)
BORDER[1:-1, 1:-1] = False


def test_an_error_on_the_block_borders_only_gives_exactly_that_pattern():
    """Every block's 28 border pixels off by 3, its inner 6x6 exact; the partial blocks (the image is 21x30: 2 x 3
    whole blocks) are wrong everywhere and must not count."""
    target = torch.rand(2, 3, 21, 30, generator=torch.Generator().manual_seed(0)) * 255
    error = torch.full((21, 30), 50.0)
    error[:16, :24] = BORDER.repeat(2, 3) * 3.0
    mse = block_position_mse(target + error, target)
    assert mse.shape == (2, 8, 8) and mse.dtype == torch.float64
    expected = torch.where(BORDER, 9.0, 0.0).double()
    assert torch.allclose(mse, expected.expand(2, 8, 8), atol=1e-9)
    structure = block_position_structure(mse[0])
    assert structure["border_to_inner"] == float("inf") and structure["corner_to_centre"] == float("inf")
    # 28 of 64 values 9, the rest 0: mean 63/16, std 9 sqrt(p (1 - p)) with p = 28/64
    p = 28 / 64
    assert structure["variation"] == pytest.approx(9 * (p * (1 - p)) ** 0.5 / (9 * p), abs=1e-12)


def test_each_position_gets_its_own_squared_error_averaged_over_blocks_and_channels():
    offsets = torch.arange(64, dtype=torch.float64).reshape(8, 8) / 8  # a distinct error at each position
    target = torch.zeros(1, 2, 24, 16, dtype=torch.float64)
    signs = torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)  # the sign does not matter, the square does
    mse = block_position_mse(target + signs * offsets.repeat(3, 2), target)
    assert torch.allclose(mse[0], offsets**2, atol=1e-12)
    assert mse[0].mean().item() == pytest.approx((offsets**2).mean().item(), abs=1e-12)  # = the whole image's MSE


def test_the_structure_ratios_of_a_corner_heavy_map():
    grid = torch.ones(8, 8, dtype=torch.float64)
    grid[[0, 0, -1, -1], [0, -1, 0, -1]] = 5.0
    structure = block_position_structure(grid)
    assert structure["corner_to_centre"] == pytest.approx(5.0)
    assert structure["border_to_inner"] == pytest.approx((24 + 20) / 28)


def test_images_without_a_whole_block_are_refused():
    with pytest.raises(ValueError, match="no whole 8x8 block"):
        block_position_mse(torch.zeros(1, 1, 7, 40), torch.zeros(1, 1, 7, 40))
    with pytest.raises(ValueError, match="an \\(8, 8\\) map"):
        block_position_structure(torch.zeros(4, 4))

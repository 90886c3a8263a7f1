"""The shared block DCT layers against dejpeg.jpeg.dct (float64 reference)."""

from __future__ import annotations

import pytest
import torch

from dejpeg.jpeg import blockify, dct_8x8, deblockify, idct_8x8
from dejpeg.layers import BlockDct, BlockIdct, block_dct, block_idct

EPS32 = torch.finfo(torch.float32).eps


def _f32_tolerance(magnitude: float) -> float:
    """What float32 may be off from float64 in a 64-term sum whose terms add up to at most ``magnitude`` in
    absolute value: 8 units of its last place there (a sum is exact up to a few roundings of its partial sums;
    the errors measured are 1/10 of this). A wrong basis, sign or frequency order is off by whole units."""
    return 8 * EPS32 * magnitude


# Each row of the 64x64 basis (entries up to 1/2 * 1/2) sums to at most 16 in absolute value, and the level
# shift's bias is at most 128 * 8 (the DC row sums to 8).
ROW_SUM = 16.0


def _as_blocks(coefficients: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, C*64, rows, cols) -> (B, C, rows, cols, 8, 8), the layout of ``blockify``."""
    return coefficients.unflatten(1, (channels, 8, 8)).permute(0, 1, 4, 5, 2, 3)


@pytest.mark.parametrize("level_shift", [False, True])
def test_block_dct_is_the_jpeg_dct_of_every_block_in_raster_frequency_order(level_shift):
    x = torch.rand(2, 3, 16, 24, dtype=torch.float64)
    pixels = x * 255.0 - 128.0 if level_shift else x
    expected = dct_8x8(blockify(pixels))  # (2, 3, 2, 3, 8, 8)
    torch.testing.assert_close(_as_blocks(block_dct(x, level_shift), 3), expected, atol=1e-10, rtol=0)
    x32 = x.float()
    expected32 = dct_8x8(blockify(x32.double() * 255.0 - 128.0 if level_shift else x32.double()))
    got = _as_blocks(BlockDct(level_shift)(x32), 3).double()
    magnitude = 255 * ROW_SUM + 128 * 8 if level_shift else ROW_SUM
    torch.testing.assert_close(got, expected32, atol=_f32_tolerance(magnitude), rtol=0)


@pytest.mark.parametrize("level_shift", [False, True])
def test_block_idct_inverts_the_jpeg_dct(level_shift):
    coefficients = (torch.randn(2, 2, 3, 4, 8, 8) * 100).double()  # (B, C, rows, cols, 8, 8), float32 values
    pixels = deblockify(idct_8x8(coefficients))
    expected = (pixels + 128.0) / 255.0 if level_shift else pixels
    stacked = coefficients.permute(0, 1, 4, 5, 2, 3).flatten(1, 3)  # (B, C*64, rows, cols)
    torch.testing.assert_close(block_idct(stacked, level_shift), expected, atol=1e-10, rtol=0)
    got = BlockIdct(level_shift)(stacked.float()).double()
    magnitude = ROW_SUM * coefficients.abs().max().item()
    tolerance = _f32_tolerance(magnitude + 128) / 255 if level_shift else _f32_tolerance(magnitude)
    torch.testing.assert_close(got, expected, atol=tolerance, rtol=0)


def test_delta_inverts_only_the_linear_part():
    # A change of coefficients is a change of pixels: the -128 of the level shift cancels, the 255 does not.
    x = torch.rand(1, 2, 16, 16, dtype=torch.float64)
    change = torch.randn(1, 128, 2, 2, dtype=torch.float64)
    moved = block_dct(x + block_idct(change, level_shift=True, delta=True), level_shift=True)
    torch.testing.assert_close(moved - block_dct(x, level_shift=True), change, atol=1e-9, rtol=0)


@pytest.mark.parametrize("level_shift", [False, True])
def test_round_trip_in_float32(level_shift):
    x = torch.rand(3, 1, 32, 40)
    coefficients = BlockDct(level_shift)(x)
    back = BlockIdct(level_shift)(coefficients)
    # The forward errors (_f32_tolerance each, in units of 1/255 with the level shift) reach a pixel through an
    # orthonormal 64x64 matrix: at most sqrt(64) times the largest. Then the inverse's own float32 error. Both
    # together stay far below one level (1/255), which a wrong level shift would be off by.
    scale = 255 if level_shift else 1
    forward = 8 * _f32_tolerance(255 * ROW_SUM + 128 * 8 if level_shift else ROW_SUM) / scale
    inverse = _f32_tolerance(ROW_SUM * coefficients.abs().max().item() + 128 * level_shift) / scale
    torch.testing.assert_close(back, x, atol=forward + inverse, rtol=0)


def test_the_transforms_stay_exact_under_a_bf16_autocast():
    x = torch.rand(1, 1, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        coefficients = BlockDct(level_shift=True)(x)
        back = BlockIdct(level_shift=True)(coefficients)
    assert coefficients.dtype == back.dtype == torch.float32
    torch.testing.assert_close(coefficients, BlockDct(level_shift=True)(x), atol=0, rtol=0)
    assert (back - x).abs().max() < 1e-4  # bf16 would be off by up to 2^-9 of 255 * x, about 1e-3 here


def test_planes_off_the_block_grid_are_refused():
    with pytest.raises(ValueError, match="multiples of 8"):
        block_dct(torch.rand(1, 1, 12, 16))
    with pytest.raises(ValueError, match="C\\*64"):
        block_idct(torch.rand(1, 63, 2, 2))

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dejpeg.codec import encode, read_coefficients
from dejpeg.jpeg import blockify, dct_8x8
from dejpeg.jpeg.consistency import project_plane, project_to_coefficients
from dejpeg.metrics import psnr as _psnr


def _tensor(image_u8: np.ndarray) -> torch.Tensor:
    array = image_u8[..., None] if image_u8.ndim == 2 else image_u8
    return torch.from_numpy(array.astype(np.float64) / 255.0).permute(2, 0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(_psnr(a[None], b[None]))


def _blurred(image: torch.Tensor) -> torch.Tensor:
    """A plausible over-smoothed restoration: 5x5 box blur."""
    return F.avg_pool2d(F.pad(image[None], (2, 2, 2, 2), mode="replicate"), 5, stride=1)[0]


CASES = [(1, "444", 10), (1, "444", 90), (3, "420", 20), (3, "422", 50), (3, "444", 95), (3, "420", 90)]


@pytest.mark.parametrize("channels,subsampling,quality", CASES)
def test_original_is_a_fixed_point(natural_image, channels, subsampling, quality):
    original = natural_image(45, 67, channels=channels)
    coeffs = read_coefficients(encode(original, quality=quality, subsampling=subsampling))
    projected = project_to_coefficients(_tensor(original), coeffs)
    # Gray: exact up to the encoder's integer DCT; colour adds YCbCr rounding and libjpeg's pooling.
    assert psnr(projected, _tensor(original)) > (70 if channels == 1 else 55)


@pytest.mark.parametrize("channels,subsampling,quality", CASES)
def test_projection_moves_a_restoration_towards_the_original(natural_image, channels, subsampling, quality):
    original = natural_image(45, 67, channels=channels, seed=3)
    coeffs = read_coefficients(encode(original, quality=quality, subsampling=subsampling))
    guess = _blurred(_tensor(original))
    projected = project_to_coefficients(guess, coeffs)
    before, after = psnr(guess, _tensor(original)), psnr(projected, _tensor(original))
    assert after > before + 0.5  # the blur left the intervals; projecting restores detail


@pytest.mark.parametrize("channels,subsampling,quality", CASES)
def test_projection_is_idempotent_on_whole_blocks(natural_image, channels, subsampling, quality):
    # (With partial edge blocks the encoder's replicated padding is outside the image, so a second
    # pass may still move edge pixels slightly.)
    original = natural_image(48, 64, channels=channels, seed=5)
    coeffs = read_coefficients(encode(original, quality=quality, subsampling=subsampling))
    projected = project_to_coefficients(_blurred(_tensor(original)), coeffs)
    again = project_to_coefficients(projected, coeffs)
    assert (again - projected).abs().max() < 1e-6  # float32 colour matrices round at ~1e-8


def test_gray_luma_coefficients_end_inside_their_intervals(natural_image):
    original = natural_image(40, 56, channels=1)
    coeffs = read_coefficients(encode(original, quality=30))
    projected = project_to_coefficients(_tensor(original).flip(-1), coeffs)  # far from consistent
    dct = dct_8x8(blockify(projected[None] * 255.0 - 128.0))[0, 0]
    quantized = torch.tensor(coeffs.components[0], dtype=torch.float64)
    step = torch.tensor(coeffs.qtables[0], dtype=torch.float64)
    assert ((dct - quantized * step).abs() <= step / 2 + 1e-9).all()


def test_size_mismatch_is_an_error(natural_image):
    coeffs = read_coefficients(encode(natural_image(32, 32), quality=50))
    with pytest.raises(ValueError, match="does not match"):
        project_to_coefficients(torch.zeros(3, 32, 40), coeffs)
    with pytest.raises(ValueError, match="channels"):
        project_to_coefficients(torch.zeros(1, 32, 32), coeffs)
    with pytest.raises(ValueError, match="MCU grid"):  # 4:2:0 regions start on multiples of 16
        project_to_coefficients(torch.zeros(3, 16, 16), coeffs, top=8)


@pytest.mark.parametrize("channels,subsampling", [(1, "444"), (3, "420"), (3, "422")])
def test_regions_project_like_the_whole_image(natural_image, channels, subsampling):
    original = natural_image(70, 90, channels=channels, seed=7)
    coeffs = read_coefficients(encode(original, quality=25, subsampling=subsampling))
    guess = _blurred(_tensor(original))
    whole = project_to_coefficients(guess, coeffs)
    pieces = torch.empty_like(whole)
    for top, bottom in ((0, 32), (32, 70)):
        for left, right in ((0, 48), (48, 90)):
            region = guess[:, top:bottom, left:right]
            pieces[:, top:bottom, left:right] = project_to_coefficients(region, coeffs, top, left)
    torch.testing.assert_close(pieces, whole, atol=1e-9, rtol=0)


@pytest.mark.parametrize("factor", [(1, 1), (2, 2), (1, 2)])
def test_project_plane_takes_strided_planes(factor):
    torch.manual_seed(0)
    blocks = torch.randint(-3, 4, (4, 6, 8, 8), dtype=torch.int16)
    table = torch.full((8, 8), 10.0)
    plane = torch.rand(48 * factor[1], 32 * factor[0]).T  # (32 fy, 48 fx), not contiguous
    projected = project_plane(plane, blocks, table, factor)
    torch.testing.assert_close(projected, project_plane(plane.contiguous(), blocks, table, factor), rtol=0, atol=0)
    assert not torch.equal(projected, plane)  # random blocks put most coefficients outside their cells

"""The model contract's side information: models declare what they read, the restore path and evaluation fill it,
tiles get their own region's share of it, and gray-only models restore a colour file's luma and keep its chroma."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

import dejpeg
from dejpeg.api import restore_array
from dejpeg.codec import decode, encode, read_coefficients, read_qtables
from dejpeg.evaluation import evaluate
from dejpeg.jpeg import idct_8x8, rgb_to_ycbcr_jfif
from dejpeg.models import JpegSide, RestorationModel


class LumaFromCoefficients(RestorationModel):
    """Decodes the luma from the file's coefficients and ignores the pixels it is given: its output is right only
    if the coefficients it receives are those of exactly its image region."""

    channels = "gray"
    side_info = frozenset({"qtables", "coefficients"})

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        quantized = side.coefficients[0]  # (B, rows, cols, 8, 8)
        blocks = idct_8x8(quantized * side.qtables[:, 0, None, None]) + 128.0
        b, rows, cols = blocks.shape[:3]
        plane = blocks.permute(0, 1, 3, 2, 4).reshape(b, 1, rows * 8, cols * 8) / 255.0
        return plane[..., : image.shape[-2], : image.shape[-1]]


class Brighten(RestorationModel):
    """A gray-only model that adds 0.1 to whatever it is given."""

    channels = "gray"

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        assert image.shape[1] == 1
        return image + 0.1


def test_a_model_reading_coefficients_gets_those_of_the_file(natural_image):
    data = encode(natural_image(72, 88, channels=1), quality=30)
    restored = dejpeg.restore(data, LumaFromCoefficients(), consistency=False, precision="fp32")
    # libjpeg's integer IDCT against a float one: at most a grey level or two apart
    assert np.abs(restored.astype(int) - decode(data).astype(int)).max() <= 2


@pytest.mark.parametrize("subsampling", ["444", "420"])
def test_tiles_get_the_coefficients_of_their_own_region(natural_image, subsampling):
    data = encode(natural_image(200, 264), quality=30, subsampling=subsampling)
    coefficients = read_coefficients(data)
    whole = restore_array(decode(data), read_qtables(data), LumaFromCoefficients(), coefficients=coefficients)
    tiled = restore_array(
        decode(data), read_qtables(data), LumaFromCoefficients(), tile=64, overlap=32, coefficients=coefficients
    )
    np.testing.assert_array_equal(tiled, whole)
    # and the result is the file's luma with its chroma kept: close to the decoded colour image
    assert np.abs(whole.astype(int) - decode(data).astype(int)).mean() < 1.0


def test_a_model_reading_coefficients_refuses_an_array_without_them(natural_image):
    data = encode(natural_image(32, 32), quality=50)
    with pytest.raises(ValueError, match="reads the file's DCT coefficients"):
        restore_array(decode(data), read_qtables(data), LumaFromCoefficients())


def test_evaluation_fills_coefficients_even_without_the_consistency_step(image_folder):
    rows = evaluate(image_folder, LumaFromCoefficients(), qualities=[30], consistency=False, progress=False)["rows"]
    assert abs(rows[0]["psnr_gain"]) < 0.5  # the decode again, so no gain and no loss beyond rounding


def test_gray_only_model_restores_the_luma_of_a_colour_file_and_keeps_its_chroma(natural_image):
    data = encode(natural_image(48, 64), quality=50, subsampling="444")
    restored = dejpeg.restore(data, Brighten(), consistency=False, precision="fp32")
    before = rgb_to_ycbcr_jfif(torch.from_numpy(decode(data)).permute(2, 0, 1)[None].double() / 255) * 255
    after = rgb_to_ycbcr_jfif(torch.from_numpy(restored).permute(2, 0, 1)[None].double() / 255) * 255
    unclipped = torch.from_numpy(((restored > 0) & (restored < 255)).all(axis=2))  # RGB clipping moves chroma
    change = (after - before)[0][:, unclipped]
    assert unclipped.float().mean() > 0.5 and abs(change[0].mean().item() - 25.5) < 1.0  # 0.1 of the range on Y
    assert change[1:].abs().max() < 1.5  # chroma kept: only the rounding of RGB to 8 bits moves it


def test_side_information_is_checked():
    tables = torch.ones(1, 2, 8, 8)
    with pytest.raises(ValueError, match="qtables"):
        JpegSide(torch.ones(2, 8, 8))
    with pytest.raises(ValueError, match="together"):
        JpegSide(tables, coefficients=(torch.zeros(1, 2, 2, 8, 8),))
    side = JpegSide(tables, (torch.zeros(1, 4, 4, 8, 8), torch.zeros(1, 2, 2, 8, 8)), ((2, 2), (1, 1)))
    with pytest.raises(ValueError, match="MCU"):
        side.crop(8, 0, 16, 16)
    cropped = side.crop(16, 16, 16, 16)
    assert [tuple(c.shape[1:3]) for c in cropped.coefficients] == [(2, 2), (1, 1)]
    with pytest.raises(TypeError, match="side_info"):
        type("Bad", (RestorationModel,), {"side_info": frozenset({"pixels"})})

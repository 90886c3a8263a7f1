"""DCT coefficients through jpeglib: layout, decoding against libjpeg, lossless rewrite."""

from __future__ import annotations

import dataclasses
import io
import math
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image

from dejpeg.codec import decode, encode, read_coefficients, write_coefficients
from dejpeg.jpeg import JpegCoefficients, dct_8x8, decode_luma_from_coefficients, ijg_qtables


def _libjpeg_luma(data: bytes) -> np.ndarray:
    """libjpeg's Y plane: gray files decode to it; colour files via draft mode (no conversion)."""
    with Image.open(io.BytesIO(data)) as pil:
        if pil.mode != "L":
            pil.draft("YCbCr", pil.size)
        plane = np.array(pil)
    return plane if plane.ndim == 2 else plane[..., 0]


def test_block_layout_row_is_vertical_frequency() -> None:
    """A cosine varying along x only must land in row 0 (and one along y in column 0)."""
    n = np.arange(8)
    horizontal = 128 + 100 * np.cos(np.pi * (2 * n + 1) * 3 / 16)  # u = 3
    vertical = 128 + 100 * np.cos(np.pi * (2 * n + 1) * 2 / 16)  # v = 2
    for image, nonzero in [(np.tile(horizontal, (8, 1)), (0, 3)), (np.tile(vertical[:, None], (1, 8)), (2, 0))]:
        coeffs = read_coefficients(encode(np.round(image).astype(np.uint8), quality=100))
        block = coeffs.components[0][0, 0].astype(int)
        big = np.argwhere(np.abs(block) > 10)
        assert big.tolist() == [list(nonzero)]


def test_coefficients_match_forward_dct() -> None:
    """At quality 100 (all-ones tables) stored coefficients are round(DCT(x - 128)), in raster layout."""
    pixels = np.random.default_rng(3).integers(0, 256, (16, 24), dtype=np.uint8)
    coeffs = read_coefficients(encode(pixels, quality=100))
    assert np.all(coeffs.qtables == 1)
    blocks = torch.from_numpy(pixels.astype(np.float64) - 128).reshape(2, 8, 3, 8).permute(0, 2, 1, 3)
    expected = dct_8x8(blocks).numpy()
    # libjpeg's integer FDCT is an approximation; a transposed layout would be off by ~100.
    assert np.abs(coeffs.components[0] - expected).max() <= 1.5


@pytest.mark.parametrize("quality", [10, 50, 90])
@pytest.mark.parametrize("shape", [(37, 53), (61, 29), (37, 53, 3), (61, 29, 3)])
def test_idct_reproduces_libjpeg_luma(natural_image, quality: int, shape: tuple[int, ...]) -> None:
    image = natural_image(*shape[:2], channels=shape[2] if len(shape) == 3 else 1, seed=quality)
    data = encode(image, quality=quality, subsampling="420")
    coeffs = read_coefficients(data)
    ours = decode_luma_from_coefficients(coeffs)
    reference = _libjpeg_luma(data)
    assert ours.shape == reference.shape == shape[:2]
    diff = np.abs(np.round(ours) - reference)
    assert diff.max() <= 1
    assert (diff == 0).mean() > 0.9


@pytest.mark.parametrize("subsampling", ["444", "422", "420"])
@pytest.mark.parametrize("channels", [1, 3])
def test_read_write_round_trip_is_exact(natural_image, subsampling: str, channels: int, tmp_path) -> None:
    data = encode(natural_image(37, 53, channels=channels), quality=75, subsampling=subsampling)
    coeffs = read_coefficients(data)
    path = tmp_path / "rewritten.jpg"
    rewritten = write_coefficients(coeffs, path)
    assert path.read_bytes() == rewritten
    again = read_coefficients(path)
    assert len(again.components) == len(coeffs.components) == channels
    for before, after in zip(coeffs.components, again.components):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(again.qtables, coeffs.qtables)
    assert (again.sampling, again.height, again.width) == (coeffs.sampling, coeffs.height, coeffs.width)
    np.testing.assert_array_equal(decode(rewritten), decode(data))


def test_geometry_and_tables(natural_image) -> None:
    data = encode(natural_image(37, 53), quality=60, subsampling="420")
    coeffs = read_coefficients(data)
    assert (coeffs.height, coeffs.width) == (37, 53)
    assert [c.shape for c in coeffs.components] == [
        (math.ceil(37 / 8), math.ceil(53 / 8), 8, 8),
        (math.ceil(37 / 16), math.ceil(53 / 16), 8, 8),  # chroma is half size, then blocks
        (math.ceil(37 / 16), math.ceil(53 / 16), 8, 8),
    ]
    assert all(c.dtype == np.int16 for c in coeffs.components)
    luma, chroma = ijg_qtables(60)
    np.testing.assert_array_equal(coeffs.qtables, np.stack([luma, chroma, chroma]))


def test_modified_coefficients_are_written(natural_image) -> None:
    coeffs = read_coefficients(encode(natural_image(32, 32, channels=1), quality=80))
    luma = np.array(coeffs.components[0])
    luma[..., 4:, :] = 0  # drop high vertical frequencies
    luma[0, 0, 0, 0] += 3
    edited = dataclasses.replace(coeffs, components=(luma,))
    data = write_coefficients(edited)
    np.testing.assert_array_equal(read_coefficients(data).components[0], luma)
    assert np.abs(np.round(decode_luma_from_coefficients(edited)) - decode(data)).max() <= 1


def test_frozen_and_read_only(natural_image) -> None:
    coeffs = read_coefficients(encode(natural_image(16, 16, channels=1), quality=50))
    with pytest.raises(dataclasses.FrozenInstanceError):
        coeffs.height = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        coeffs.components[0][0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        coeffs.qtables[0, 0, 0] = 1


def test_constructor_validates() -> None:
    block = np.zeros((1, 1, 8, 8), np.int16)
    with pytest.raises(ValueError):
        JpegCoefficients((block, block), np.ones((2, 8, 8)), ((1, 1), (1, 1)), 8, 8)
    with pytest.raises(ValueError):
        JpegCoefficients((block.astype(np.int32),), np.ones((1, 8, 8)), ((1, 1),), 8, 8)
    with pytest.raises(ValueError):
        JpegCoefficients((block,), np.ones((2, 8, 8)), ((1, 1),), 8, 8)


def test_bad_input_and_temp_cleanup(monkeypatch, tmp_path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(ValueError, match="not a JPEG"):
        read_coefficients(b"GIF89a not a jpeg")
    with pytest.raises(ValueError):
        read_coefficients(encode(np.zeros((64, 64), np.uint8), quality=50)[:150])
    write_coefficients(read_coefficients(encode(np.zeros((16, 16), np.uint8), quality=50)))
    assert list(scratch.iterdir()) == []

"""Pixel codec: table handling, subsampling, input validation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from t81 import SPEC_ZIGZAG_GRID

from dejpeg.codec import decode, encode, jpeg_roundtrip, read_coefficients, read_qtables
from dejpeg.jpeg import ijg_qtables


def parse_dqt(data: bytes) -> dict[int, np.ndarray]:
    """Tables straight from the DQT segments: stored in zigzag order per T.81 B.2.4.1."""
    tables: dict[int, np.ndarray] = {}
    pos = 2
    while pos < len(data):
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: no more tables before entropy-coded data
            break
        if marker == 0xDB:
            seg, k = data[pos + 4 : pos + 2 + length], 0
            while k < len(seg):
                precision, slot = seg[k] >> 4, seg[k] & 15
                size = 2 if precision else 1
                zigzag = np.frombuffer(seg[k + 1 : k + 1 + 64 * size], dtype=">u2" if precision else "u1")
                tables[slot] = zigzag[SPEC_ZIGZAG_GRID].astype(np.int32)
                k += 1 + 64 * size
        pos += 2 + length
    return tables


def test_custom_tables_read_back_in_raster_order(natural_image) -> None:
    rng = np.random.default_rng(1)
    tables = rng.integers(1, 256, (2, 8, 8))  # asymmetric, so a transpose or zigzag mix-up shows
    data = encode(natural_image(24, 32), qtables=tables, subsampling="444")
    np.testing.assert_array_equal(read_qtables(data), tables)
    raw = parse_dqt(data)
    np.testing.assert_array_equal(np.stack([raw[0], raw[1]]), tables)


def test_quality_tables_are_ijg(natural_image) -> None:
    data = encode(natural_image(16, 16), quality=37)
    np.testing.assert_array_equal(read_qtables(data), ijg_qtables(37))
    gray = encode(natural_image(16, 16, channels=1), quality=37)
    np.testing.assert_array_equal(read_qtables(gray), ijg_qtables(37)[:1])


@pytest.mark.parametrize(
    "subsampling,expected",
    [("444", ((1, 1), (1, 1), (1, 1))), ("422", ((1, 2), (1, 1), (1, 1))), ("420", ((2, 2), (1, 1), (1, 1)))],
)
def test_subsampling_factors_read_back(natural_image, subsampling: str, expected) -> None:
    data = encode(natural_image(40, 56), quality=80, subsampling=subsampling)
    coeffs = read_coefficients(data)
    assert coeffs.sampling == expected  # (vertical, horizontal): 4:2:2 halves horizontally
    assert Image.open(io.BytesIO(data)).layer[0][1:3] == expected[0][::-1]  # Pillow gives (h, v)


def test_roundtrip_shapes(natural_image) -> None:
    rgb, gray = natural_image(37, 53), natural_image(37, 53, channels=1)
    decoded, data = jpeg_roundtrip(rgb, quality=90)
    assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - rgb).mean() < 6
    assert decode(encode(gray, quality=90)).shape == gray.shape


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_bad_quality(quality: int) -> None:
    with pytest.raises(ValueError, match="quality"):
        encode(np.zeros((8, 8), np.uint8), quality=quality)


def test_bad_encode_inputs() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode(np.zeros((8, 8), np.float32), quality=50)
    with pytest.raises(ValueError, match="shape"):
        encode(np.zeros((8, 8, 4), np.uint8), quality=50)
    with pytest.raises(ValueError, match="subsampling"):
        encode(np.zeros((8, 8), np.uint8), quality=50, subsampling="411")
    with pytest.raises(ValueError):
        encode(np.zeros((8, 8), np.uint8), qtables=np.zeros((8, 8)))
    with pytest.raises(ValueError):
        encode(np.zeros((8, 8), np.uint8))


def test_non_jpeg_input(tmp_path) -> None:
    png = io.BytesIO()
    Image.new("L", (8, 8)).save(png, format="PNG")
    for bad in (b"definitely not an image", png.getvalue()):
        with pytest.raises(ValueError):
            decode(bad)
        with pytest.raises(ValueError):
            read_qtables(bad)
    truncated = encode(np.full((64, 64), 7, np.uint8), quality=50)[:200]
    with pytest.raises(ValueError):
        decode(truncated)

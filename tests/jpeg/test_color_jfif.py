"""Colour conversions against Pillow and hand-computed values."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dejpeg.codec import decode, encode
from dejpeg.jpeg import (
    RgbToYcbcrJfif,
    YcbcrJfifToRgb,
    rgb_to_y_bt601_u8,
    rgb_to_ycbcr_jfif,
    upsample_420_u8,
    ycbcr_jfif_to_rgb,
    ycbcr_u8_to_rgb_u8,
)


def _random_rgb(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (17, 23, 3), dtype=np.uint8)


def _to_tensor(rgb_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb_u8).permute(2, 0, 1)[None].double() / 255


def test_round_trip() -> None:
    x = torch.rand(2, 3, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(ycbcr_jfif_to_rgb(rgb_to_ycbcr_jfif(x)), x, atol=1e-6, rtol=0)


def test_matches_pillow_ycbcr() -> None:
    rgb = _random_rgb()
    ours = rgb_to_ycbcr_jfif(_to_tensor(rgb))[0].permute(1, 2, 0).numpy() * 255
    pillow = np.asarray(Image.fromarray(rgb).convert("YCbCr")).astype(np.float64)
    # Pillow's fixed-point conversion truncates, so it sits up to one level below the exact value.
    assert np.abs(np.round(ours) - pillow).max() <= 1
    assert np.abs(ours - pillow).mean() < 0.75


def test_inverse_matches_libjpeg_decoder() -> None:
    """libjpeg's own YCbCr -> RGB (rounded fixed point) on the planes of a 4:4:4 file."""
    rgb = _random_rgb(1)
    data = encode(rgb, quality=95, subsampling="444")
    with Image.open(io.BytesIO(data)) as pil:
        pil.draft("YCbCr", pil.size)  # ask libjpeg for its planes without colour conversion
        ycc = np.array(pil)
    ours = ycbcr_jfif_to_rgb(_to_tensor(ycc))[0].permute(1, 2, 0).numpy() * 255
    libjpeg = decode(data).astype(np.float64)
    assert np.abs(np.clip(ours, 0, 255) - libjpeg).max() <= 0.51


def test_neutral_chroma_is_128() -> None:
    grey = torch.full((1, 3, 1, 1), 77 / 255, dtype=torch.float64)
    torch.testing.assert_close(
        rgb_to_ycbcr_jfif(grey).flatten() * 255, torch.tensor([77.0, 128, 128], dtype=torch.float64)
    )


def test_known_values() -> None:
    white_black_red = torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0]]).T.reshape(1, 3, 1, 3)
    ycc = rgb_to_ycbcr_jfif(white_black_red)[0, :, 0].T
    torch.testing.assert_close(ycc[0], torch.tensor([1.0, 128 / 255, 128 / 255]))
    torch.testing.assert_close(ycc[1], torch.tensor([0.0, 128 / 255, 128 / 255]))
    torch.testing.assert_close(ycc[2], torch.tensor([0.299, 128 / 255 - 0.168735892, 128 / 255 + 0.5]))


def test_modules_equal_functions() -> None:
    x = torch.rand(1, 3, 4, 5)
    assert torch.equal(RgbToYcbcrJfif()(x), rgb_to_ycbcr_jfif(x))
    assert torch.equal(YcbcrJfifToRgb()(x), ycbcr_jfif_to_rgb(x))


def test_y_bt601_hand_values() -> None:
    rgb = np.array(
        [[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [100, 150, 200], [2, 44, 141]]], np.uint8
    )
    # 16 + (65.481 R + 128.553 G + 24.966 B) / 255, worked by hand:
    # white 16 + 219 = 235; red 81.481; green 144.553; blue 40.966;
    # (100,150,200): 16 + 30824.25/255 = 136.879; (2,44,141): 16 + 9307.5/255 = 52.5 exactly,
    # which MATLAB's round (half away from zero) takes to 53.
    np.testing.assert_array_equal(rgb_to_y_bt601_u8(rgb), [[16, 235, 81, 145, 41, 137, 53]])


def test_y_bt601_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        rgb_to_y_bt601_u8(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        rgb_to_y_bt601_u8(np.zeros((4, 4), np.uint8))


def test_fixed_point_ycbcr_to_rgb_is_the_float_conversion_rounded():
    rng = np.random.default_rng(0)
    y, cb, cr = (rng.integers(0, 256, (40, 50), dtype=np.uint8) for _ in range(3))
    rgb = ycbcr_u8_to_rgb_u8(y, cb, cr)
    planes = torch.from_numpy(np.stack([y, cb, cr])[None]).double() / 255
    reference = (ycbcr_jfif_to_rgb(planes)[0].permute(1, 2, 0) * 255).clamp(0, 255).numpy()
    assert rgb.dtype == np.uint8 and np.abs(rgb - reference).max() <= 0.5 + 1e-6 + 2**-16 * 255 * 3


def test_fancy_upsampling_weights_and_edges():
    plane = np.array([[0, 160], [80, 240]], dtype=np.uint8)
    up = upsample_420_u8(plane, 4, 3).astype(int)
    # Pixel (1, 1): 9/16 of input (0, 0), 3/16 of (0, 1) and (1, 0), 1/16 of (1, 1) -> (0 + 480 + 240 + 240 + 8) / 16.
    assert up.shape == (4, 3) and up[1, 1] == (9 * 0 + 3 * 160 + 3 * 80 + 240 + 8) // 16
    # The last row repeats the input's (edge replicated): 3/4 of (1, 1) and 1/4 of (1, 0), as 16ths of 4-row sums.
    assert up[0, 0] == 0 and up[3, 2] == (3 * 4 * 240 + 4 * 80 + 8) // 16
    flat = np.full((5, 7), 77, dtype=np.uint8)
    assert np.all(upsample_420_u8(flat, 9, 13) == 77)

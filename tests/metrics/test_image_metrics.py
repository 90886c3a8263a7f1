"""The numpy uint8 helper used by evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dejpeg.metrics import image_metrics, psnr, psnrb, ssim


def _pair(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, shape, dtype=np.uint8)
    out = np.clip(ref.astype(int) + rng.integers(-9, 10, shape), 0, 255).astype(np.uint8)
    return out, ref


def test_gray_matches_torch_functions() -> None:
    out, ref = _pair((24, 32))
    result = image_metrics(out, ref)
    a, b = (torch.from_numpy(x).double()[None, None] for x in (out, ref))
    assert set(result) == {"psnr", "ssim", "psnrb"} and all(type(v) is float for v in result.values())
    assert result == {
        "psnr": psnr(a, b, 255.0).item(),
        "ssim": ssim(a, b, 255.0).item(),
        "psnrb": psnrb(a, b, 255.0).item(),
    }


def test_rgb_matches_torch_functions() -> None:
    out, ref = _pair((24, 32, 3))
    result = image_metrics(out, ref)
    a, b = (torch.from_numpy(x).double().permute(2, 0, 1)[None] for x in (out, ref))
    assert result["psnr"] == psnr(a, b, 255.0).item()
    assert result["ssim"] == ssim(a, b, 255.0).item()
    assert result["psnrb"] == psnrb(a, b, 255.0).item()


def test_no_uint8_wraparound() -> None:
    ref = np.full((16, 16), 10, np.uint8)
    out = np.full((16, 16), 250, np.uint8)
    assert image_metrics(out, ref)["psnr"] == pytest.approx(10 * math.log10(255**2 / 240**2), abs=1e-12)


def test_inputs_not_modified() -> None:
    out, ref = _pair((24, 32, 3))
    out0, ref0 = out.copy(), ref.copy()
    image_metrics(out, ref)
    assert np.array_equal(out, out0) and np.array_equal(ref, ref0)


@pytest.mark.parametrize(
    ("out", "ref", "message"),
    [
        (np.zeros((16, 16), np.float32), np.zeros((16, 16), np.uint8), "uint8"),
        (np.zeros((16, 16, 4), np.uint8), np.zeros((16, 16, 4), np.uint8), "gray or"),
        (np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.uint8), "shape mismatch"),
        (np.zeros((16, 16), np.uint8), np.zeros((16, 17), np.uint8), "shape mismatch"),
    ],
)
def test_bad_inputs_raise(out: np.ndarray, ref: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        image_metrics(out, ref)

"""PSNR: hand-computed values, conventions shared by all metrics (shapes, dtypes, data_range)."""

from __future__ import annotations

import math

import pytest
import torch

from dejpeg.metrics import PSNR, PSNRB, SSIM, psnr, psnrb, ssim

METRICS = [psnr, ssim, psnrb]


def _u8_pair(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 256, shape, generator=gen).double()
    b = (a + torch.randint(-20, 21, shape, generator=gen)).clamp(0, 255)
    return a, b


def test_constant_offset() -> None:
    ref = torch.full((1, 1, 8, 8), 100.0)
    # MSE = 5^2 = 25 -> 10 log10(255^2 / 25)
    assert psnr(ref + 5, ref, 255.0).item() == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)


def test_known_mse_over_channels() -> None:
    ref = torch.zeros(1, 3, 2, 2)
    out = ref.clone()
    out[0, 1, 0, 0] = 0.6  # one of 12 values off by 0.6: MSE = 0.36 / 12 = 0.03
    assert psnr(out, ref).item() == pytest.approx(10 * math.log10(1 / 0.03), abs=1e-6)


def test_identical_is_inf() -> None:
    x = torch.rand(2, 3, 5, 5)
    assert torch.isinf(psnr(x, x)).all()


def test_one_value_per_image() -> None:
    ref = torch.zeros(3, 1, 4, 4)
    offsets = torch.tensor([1.0, 2.0, 4.0]).view(3, 1, 1, 1)
    expected = torch.tensor([10 * math.log10(255**2 / o**2) for o in (1.0, 2.0, 4.0)], dtype=torch.float64)
    result = psnr(ref + offsets, ref, 255.0)
    assert result.shape == (3,) and result.dtype == torch.float64
    torch.testing.assert_close(result, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_data_range_255_equals_unit_range(metric) -> None:
    a, b = _u8_pair((2, 3, 24, 32))
    torch.testing.assert_close(metric(a, b, 255.0), metric(a / 255, b / 255, 1.0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_float32_input_same_as_float64(metric) -> None:
    """u8 values are exact in float32 and the metrics compute in float64 either way."""
    a, b = _u8_pair((1, 1, 24, 24))
    assert metric(a.float(), b.float(), 255.0).dtype == torch.float64
    torch.testing.assert_close(metric(a.float(), b.float(), 255.0), metric(a, b, 255.0), rtol=0, atol=0)


@pytest.mark.parametrize(("module", "function"), [(PSNR, psnr), (SSIM, ssim), (PSNRB, psnrb)])
def test_module_equals_function(module, function) -> None:
    a, b = _u8_pair((2, 3, 24, 32))
    torch.testing.assert_close(module(data_range=255.0)(a, b), function(a, b, 255.0), rtol=0, atol=0)
    torch.testing.assert_close(module()(a / 255, b / 255), function(a / 255, b / 255), rtol=0, atol=0)


@pytest.mark.parametrize("metric", METRICS)
def test_inputs_not_modified(metric) -> None:
    a, b = _u8_pair((1, 3, 24, 24))
    a0, b0 = a.clone(), b.clone()
    metric(a, b, 255.0)
    assert torch.equal(a, a0) and torch.equal(b, b0)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("shape_a", "shape_b", "message"),
    [
        ((3, 24, 24), (3, 24, 24), "expected \\(B, C, H, W\\)"),
        ((1, 1, 24, 24), (1, 1, 24, 25), "shape mismatch"),
        ((1, 1, 24, 24), (2, 1, 24, 24), "shape mismatch"),
    ],
)
def test_bad_shapes_raise(metric, shape_a, shape_b, message) -> None:
    with pytest.raises(ValueError, match=message):
        metric(torch.zeros(shape_a), torch.zeros(shape_b))


@pytest.mark.parametrize("metric", METRICS)
def test_bad_dtype_and_range_raise(metric) -> None:
    x = torch.zeros(1, 1, 24, 24)
    with pytest.raises(ValueError, match="floating"):
        metric(x.to(torch.uint8), x.to(torch.uint8))
    with pytest.raises(ValueError, match="data_range"):
        metric(x, x, 0.0)

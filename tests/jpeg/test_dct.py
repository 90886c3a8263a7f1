"""Block DCT and zigzag order against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from t81 import SPEC_ZIGZAG_GRID

from dejpeg.jpeg import Dct8x8, Idct8x8, dct_8x8, idct_8x8, integer_idct_8x8, zigzag_scan, zigzag_unscan
from dejpeg.jpeg.dct import dct_matrix_2d


def reference_dct(block: np.ndarray) -> np.ndarray:
    """T.81 A.3.3 FDCT written as the literal double sum (float64, no matrices)."""
    out = np.zeros((8, 8))
    for v in range(8):
        for u in range(8):
            cu = 1 / math.sqrt(2) if u == 0 else 1.0
            cv = 1 / math.sqrt(2) if v == 0 else 1.0
            total = 0.0
            for y in range(8):
                for x in range(8):
                    total += (
                        block[y, x]
                        * math.cos((2 * x + 1) * u * math.pi / 16)
                        * math.cos((2 * y + 1) * v * math.pi / 16)
                    )
            out[v, u] = 0.25 * cu * cv * total
    return out


def test_dct_matches_spec_formula_float64() -> None:
    block = np.random.default_rng(0).uniform(-128, 127, (8, 8))
    ours = dct_8x8(torch.from_numpy(block)).numpy()
    np.testing.assert_allclose(ours, reference_dct(block), atol=1e-9)


def test_dct_is_orthonormal() -> None:
    # Transforming each of the 64 unit impulses gives the basis; its Gram matrix is identity.
    impulses = torch.eye(64, dtype=torch.float64).reshape(64, 8, 8)
    basis = dct_8x8(impulses).reshape(64, 64)
    np.testing.assert_allclose((basis @ basis.T).numpy(), np.eye(64), atol=1e-12)
    x = torch.randn(5, 8, 8, dtype=torch.float64)
    np.testing.assert_allclose(dct_8x8(x).square().sum().item(), x.square().sum().item(), rtol=1e-12)


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
def test_round_trip_batched(dtype: torch.dtype, atol: float) -> None:
    x = torch.randn(2, 3, 4, 5, 8, 8, dtype=dtype) * 100
    y = dct_8x8(x)
    assert y.shape == x.shape and y.dtype == dtype
    torch.testing.assert_close(idct_8x8(y), x, atol=atol, rtol=0)


def test_dc_is_eight_times_mean() -> None:
    x = torch.full((8, 8), 3.0, dtype=torch.float64)
    y = dct_8x8(x)
    assert y[0, 0].item() == pytest.approx(24.0)
    assert y.flatten()[1:].abs().max().item() < 1e-12


def test_gradcheck() -> None:
    x = torch.randn(8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(dct_8x8, (x,))
    assert torch.autograd.gradcheck(idct_8x8, (x,))


def test_module_equals_function() -> None:
    x = torch.randn(3, 8, 8)
    torch.testing.assert_close(Dct8x8()(x), dct_8x8(x), rtol=0, atol=0)
    torch.testing.assert_close(Idct8x8()(x), idct_8x8(x), rtol=0, atol=0)


def test_does_not_modify_input() -> None:
    x = torch.randn(2, 8, 8)
    before = x.clone()
    dct_8x8(x)
    idct_8x8(x)
    assert torch.equal(x, before)


def test_zigzag_matches_spec() -> None:
    grid = torch.from_numpy(SPEC_ZIGZAG_GRID)
    # Scanning the grid lists the zigzag indices in order; unscanning 0..63 rebuilds the grid.
    assert torch.equal(zigzag_scan(grid), torch.arange(64))
    assert torch.equal(zigzag_unscan(torch.arange(64)), grid)
    np.testing.assert_array_equal(zigzag_unscan(np.arange(64)), SPEC_ZIGZAG_GRID)


def test_zigzag_round_trip_batched() -> None:
    x = torch.randn(2, 3, 8, 8)
    v = zigzag_scan(x)
    assert v.shape == (2, 3, 64)
    assert torch.equal(zigzag_unscan(v), x)


@pytest.mark.parametrize(
    "fn,value",
    [
        (dct_8x8, torch.zeros(8, 8, dtype=torch.int64)),
        (dct_8x8, torch.zeros(8, 7)),
        (idct_8x8, torch.zeros(64)),
        (dct_8x8, np.zeros((8, 8))),
        (zigzag_scan, torch.zeros(4, 4)),
        (zigzag_unscan, torch.zeros(63)),
    ],
)
def test_bad_input_raises(fn, value) -> None:
    with pytest.raises(ValueError):
        fn(value)


def test_dct_matrix_2d_transforms_raster_flattened_blocks() -> None:
    blocks = torch.from_numpy(np.random.default_rng(1).uniform(-128, 127, (5, 8, 8)))
    flat = blocks.reshape(5, 64) @ dct_matrix_2d(torch.float64).T  # row = raster frequency 8 * v + u
    torch.testing.assert_close(flat.reshape(5, 8, 8), dct_8x8(blocks), atol=1e-9, rtol=0)


def test_integer_idct_is_within_its_fixed_point_error_of_the_float_one():
    rng = np.random.default_rng(0)
    coefficients = rng.integers(-1024, 1025, (200, 8, 8))
    coefficients[:, 2:, 2:] //= 8  # photo-like: energy in the low frequencies
    exact = idct_8x8(torch.from_numpy(coefficients).double()).numpy()
    integer = integer_idct_8x8(coefficients)
    assert integer.dtype == np.int64
    # Each 13-bit basis entry is off by at most 0.5 / 8192; in C.T Y C that moves a pixel by at most
    # sum |Y| * 2 * max|C| * 0.5 / 8192 (plus a negligible square term), then rounding adds 0.5.
    bound = 0.5 + np.abs(coefficients).sum(axis=(1, 2)) * 2 * 0.4904 * 0.5 / 8192 + 1e-3
    assert (np.abs(integer - exact).max(axis=(1, 2)) <= bound).all()
    assert np.array_equal(integer_idct_8x8(np.zeros((8, 8), dtype=np.int32)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="integer"):
        integer_idct_8x8(np.zeros((8, 8)))

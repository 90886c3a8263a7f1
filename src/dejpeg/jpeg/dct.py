"""Orthonormal 8x8 block DCT-II (the JPEG transform) and zigzag ordering, in torch.

JPEG's forward DCT (ITU-T T.81 A.3.3) with its ``C(0) = 1/sqrt(2)`` normalisation is exactly
the orthonormal 2-D DCT-II, so ``dct_8x8`` of level-shifted pixels (``pixel - 128``) gives the
coefficients a JPEG file stores before quantization. Axis convention (checked against libjpeg
in the tests): in an (8, 8) coefficient block, row index = vertical frequency, column index =
horizontal frequency, as in the pixel block.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor, nn


def _dct_matrix_f64() -> np.ndarray:
    """``C[k, n] = a(k) cos(pi (2n + 1) k / 16)``, ``a(0) = sqrt(1/8)``, ``a(k) = sqrt(2/8)``."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    matrix = np.cos(math.pi * (2 * n + 1) * k / 16) * math.sqrt(2 / 8)
    matrix[0] = math.sqrt(1 / 8)
    return matrix


@functools.cache
def _dct_matrix(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The 8x8 DCT-II basis, built once per dtype/device (in float64, then cast)."""
    return torch.from_numpy(_dct_matrix_f64()).to(dtype=dtype, device=device)


def dct_matrix(dtype: torch.dtype = torch.float32) -> Tensor:
    """The orthonormal 8x8 DCT-II basis ``C`` (row = frequency): ``dct_8x8(X) == C @ X @ C.T``."""
    return _dct_matrix(dtype, torch.device("cpu")).clone()


def dct_matrix_2d(dtype: torch.dtype = torch.float32) -> Tensor:
    """The 2-D DCT of a raster-flattened 8x8 block as one 64x64 matrix ``C (x) C`` (row = raster frequency
    ``8 * vertical + horizontal``): many blocks then transform as a single matrix product or convolution."""
    return torch.kron(dct_matrix(dtype), dct_matrix(dtype))


def _check_blocks(blocks: Tensor) -> None:
    if not isinstance(blocks, Tensor):
        raise ValueError(f"expected a torch.Tensor, got {type(blocks).__name__}")
    if not blocks.is_floating_point():
        raise ValueError(f"expected a floating-point tensor, got dtype {blocks.dtype}")
    if blocks.ndim < 2 or tuple(blocks.shape[-2:]) != (8, 8):
        raise ValueError(f"expected (..., 8, 8) blocks, got shape {tuple(blocks.shape)}")


def dct_8x8(blocks: Tensor) -> Tensor:
    """Orthonormal 2-D DCT-II of every 8x8 block: ``C @ X @ C.T``.

    Args:
        blocks: (..., 8, 8) float tensor (any float dtype/device; differentiable).

    Returns:
        (..., 8, 8) coefficients, same dtype/device; row = vertical frequency.
    """
    _check_blocks(blocks)
    basis = _dct_matrix(blocks.dtype, blocks.device)
    return basis @ blocks @ basis.T


def idct_8x8(coefficients: Tensor) -> Tensor:
    """Inverse of :func:`dct_8x8` (``C.T @ Y @ C``; the basis is orthogonal)."""
    _check_blocks(coefficients)
    basis = _dct_matrix(coefficients.dtype, coefficients.device)
    return basis.T @ coefficients @ basis


def _zigzag_order() -> np.ndarray:
    """Raster index (row * 8 + col) of each zigzag position, walking the anti-diagonals.

    On diagonal ``s = row + col`` the scan moves up-right (row decreasing) when ``s`` is even
    and down-left when ``s`` is odd, which is the T.81 Figure A.6 order.
    """
    order = []
    for s in range(15):
        rows = range(max(0, s - 7), min(s, 7) + 1)
        rows = reversed(rows) if s % 2 == 0 else rows
        order.extend(r * 8 + (s - r) for r in rows)
    return np.array(order, dtype=np.int64)


ZIGZAG_ORDER = _zigzag_order()
"""``ZIGZAG_ORDER[i]`` is the raster position of the ``i``-th coefficient in zigzag order."""
_ZIGZAG_INVERSE = np.argsort(ZIGZAG_ORDER)


def _index_like(index: np.ndarray, x: Tensor | np.ndarray) -> Tensor | np.ndarray:
    return torch.from_numpy(index).to(x.device) if isinstance(x, Tensor) else index


def zigzag_scan(blocks: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """(..., 8, 8) raster blocks to (..., 64) vectors in JPEG zigzag order (torch or numpy)."""
    if tuple(blocks.shape[-2:]) != (8, 8):
        raise ValueError(f"expected (..., 8, 8) blocks, got shape {tuple(blocks.shape)}")
    flat = blocks.reshape(*blocks.shape[:-2], 64)
    return flat[..., _index_like(ZIGZAG_ORDER, blocks)]


def zigzag_unscan(vectors: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Inverse of :func:`zigzag_scan`: (..., 64) zigzag vectors to (..., 8, 8) raster blocks."""
    if vectors.shape[-1] != 64:
        raise ValueError(f"expected (..., 64) vectors, got shape {tuple(vectors.shape)}")
    raster = vectors[..., _index_like(_ZIGZAG_INVERSE, vectors)]
    return raster.reshape(*vectors.shape[:-1], 8, 8)


class Dct8x8(nn.Module):
    """Module form of :func:`dct_8x8` (no parameters; the basis is cached per dtype/device)."""

    def forward(self, blocks: Tensor) -> Tensor:
        return dct_8x8(blocks)


class Idct8x8(nn.Module):
    """Module form of :func:`idct_8x8`."""

    def forward(self, coefficients: Tensor) -> Tensor:
        return idct_8x8(coefficients)


#: The DCT basis of :func:`dct_matrix` times 2**13, rounded: written out, so that no libm's ``cos`` is involved.
_DCT_INT13 = np.array(
    [
        [2896, 2896, 2896, 2896, 2896, 2896, 2896, 2896],
        [4017, 3406, 2276, 799, -799, -2276, -3406, -4017],
        [3784, 1567, -1567, -3784, -3784, -1567, 1567, 3784],
        [3406, -799, -4017, -2276, 2276, 4017, 799, -3406],
        [2896, -2896, -2896, 2896, 2896, -2896, -2896, 2896],
        [2276, -4017, 799, 3406, -3406, -799, 4017, -2276],
        [1567, -3784, 3784, -1567, -1567, 3784, -3784, 1567],
        [799, -2276, 3406, -4017, 4017, -3406, 2276, -799],
    ],
    dtype=np.int64,
)


def integer_idct_8x8(coefficients: np.ndarray) -> np.ndarray:
    """Inverse DCT in exact integer arithmetic: the same result on every machine, as a decoder that must repeat its
    encoder bit for bit needs (a float IDCT's last bits depend on the CPU and the library, and move a rounding).

    Args:
        coefficients: (..., 8, 8) integer dequantized coefficients (magnitudes below 2**20).

    Returns:
        (..., 8, 8) int64, the 13-bit fixed-point basis's ``C.T @ Y @ C`` rounded half up: off the float IDCT
        by at most 0.5 + 6e-5 times the sum of the block's coefficient magnitudes.
    """
    coefficients = np.asarray(coefficients)
    if not np.issubdtype(coefficients.dtype, np.integer) or coefficients.shape[-2:] != (8, 8):
        raise ValueError(f"expected (..., 8, 8) integer coefficients, got {coefficients.dtype} {coefficients.shape}")
    product = _DCT_INT13.T @ coefficients.astype(np.int64) @ _DCT_INT13
    return (product + (1 << 25)) >> 26

"""A JPEG's quantized DCT coefficients as data, and checks on them: the format's math, no file I/O
(reading and writing them is :mod:`dejpeg.codec.coefficients`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from dejpeg.jpeg.dct import idct_8x8


@dataclasses.dataclass(frozen=True, eq=False)
class JpegCoefficients:
    """Everything needed to decode or rewrite a baseline gray/YCbCr JPEG losslessly.

    Arrays are made read-only so the "frozen" promise holds for their contents too.

    Attributes:
        components: per component (Y, or Y/Cb/Cr) int16 ``(rows_blocks, cols_blocks, 8, 8)``
            quantized coefficients on the component's block grid, i.e. libjpeg's
            ``ceil(component_size / 8)`` blocks per axis, with the partial edge blocks that
            hold the encoder's padding. (Whole dummy blocks that only complete a 16-pixel
            MCU are not kept: decoders discard them and libjpeg regenerates them on write.)
        qtables: ``(num_components, 8, 8)`` int32, the table of each component, raster order.
        sampling: per component ``(vertical, horizontal)`` sampling factors, e.g.
            ``((2, 2), (1, 1), (1, 1))`` for 4:2:0.
        height: image height in pixels.
        width: image width in pixels.
        corrupt: libjpeg's warnings while reading the file, e.g. "Corrupt JPEG data: premature end of data
            segment": the coefficients of a damaged file, as libjpeg recovered them. Empty for valid files.
    """

    components: tuple[np.ndarray, ...]
    qtables: np.ndarray
    sampling: tuple[tuple[int, int], ...]
    height: int
    width: int
    corrupt: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        components = tuple(np.asarray(c) for c in self.components)
        qtables = np.asarray(self.qtables)
        n = len(components)
        if n not in (1, 3):
            raise ValueError(f"expected 1 (gray) or 3 (YCbCr) components, got {n}")
        if qtables.shape != (n, 8, 8) or len(self.sampling) != n:
            raise ValueError(
                f"{n} components need qtables of shape ({n}, 8, 8) and {n} sampling factors, "
                f"got {qtables.shape} and {len(self.sampling)}"
            )
        for comp in components:
            if comp.ndim != 4 or comp.shape[2:] != (8, 8) or comp.dtype != np.int16:
                raise ValueError(f"components must be int16 (rows, cols, 8, 8), got {comp.dtype} {comp.shape}")
        if qtables.min() < 1:  # the consistency step divides by them
            raise ValueError(f"quantization steps must be 1 or more, got {qtables.min()}")
        object.__setattr__(self, "components", tuple(_read_only(c) for c in components))
        object.__setattr__(self, "qtables", _read_only(qtables.astype(np.int32)))
        object.__setattr__(self, "sampling", tuple((int(v), int(h)) for v, h in self.sampling))


def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.setflags(write=False)
    return array


def decode_luma_from_coefficients(coeffs: JpegCoefficients) -> np.ndarray:
    """The luma plane as a decoder produces it before rounding: dequantize, IDCT, +128, crop.

    Returns:
        (height, width) float64 in [0, 255] (clipped like libjpeg's range limit, not rounded).
    """
    luma = torch.from_numpy(coeffs.components[0].astype(np.float64))
    table = torch.from_numpy(coeffs.qtables[0].astype(np.float64))
    pixels = idct_8x8(luma * table) + 128.0  # (rows, cols, 8, 8)
    rows, cols = luma.shape[:2]
    plane = pixels.permute(0, 2, 1, 3).reshape(rows * 8, cols * 8)
    return plane[: coeffs.height, : coeffs.width].clamp(0.0, 255.0).numpy()


def luma_matches(coeffs: JpegCoefficients, luma_u8: np.ndarray, max_blocks: int = 4096, tolerance: float = 4.0) -> bool:
    """Whether another decoder's luma plane is the image these coefficients code, on a sample of block rows.

    Why: libjpeg versions recover from corrupt data differently, so the coefficients read here may not be
    the image Pillow decoded; projecting onto them would then turn a fine decode into garbage. On valid files
    (any quality, saturated colours) the mean difference of every block is under half a grey level (integer
    IDCT and rounding); ``tolerance`` is the mean absolute difference a whole block may reach.
    """
    full_rows, full_cols = coeffs.height // 8, coeffs.width // 8
    if coeffs.components[0].shape[0] < full_rows or coeffs.components[0].shape[1] < full_cols:
        return False  # luma coded below full resolution (sampling factors no encoder writes): no block-wise check
    if luma_u8.shape != (coeffs.height, coeffs.width) or not full_rows or not full_cols:
        return luma_u8.shape == (coeffs.height, coeffs.width)
    picked = np.arange(0, full_rows, max(1, -(-full_rows * full_cols // max_blocks)))
    blocks = torch.from_numpy(coeffs.components[0][picked, :full_cols].astype(np.float64))
    decoded = (idct_8x8(blocks * torch.from_numpy(coeffs.qtables[0].astype(np.float64))) + 128.0).clamp(0.0, 255.0)
    theirs = luma_u8[: full_rows * 8, : full_cols * 8].reshape(full_rows, 8, full_cols, 8)[picked].transpose(0, 2, 1, 3)
    difference = np.abs(decoded.numpy() - theirs).mean(axis=(2, 3))
    return bool(difference.max() <= tolerance)


#: No 8-bit image has a DCT coefficient larger than this (the DC of a block of 255s, less 128, is 8 * 127 = 1016;
#: each AC is at most 128 * (sum of |cos|)^2 / 4 < 850); quantization rounds by at most half a step more.
MAX_COEFFICIENT = 1024


def coefficients_in_range(coeffs: JpegCoefficients) -> bool:
    """Whether every dequantized coefficient is one an 8-bit image can have.

    Why: corrupt entropy-coded data can decode to a DC of thousands; decoders clamp the pixels it makes, but the
    consistency step would pull the restoration toward the unclamped value, far from every decoder's image.
    """
    for component, table in zip(coeffs.components, coeffs.qtables):
        limit = MAX_COEFFICIENT // table + 1  # in quantization steps: |c| * q <= 1024 + q / 2
        if (np.abs(component.astype(np.int32)) > limit).any():
            return False
    return True

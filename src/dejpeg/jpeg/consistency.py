"""DCT-domain consistency: keep a restored image inside the set of images that code to the same file.

Why: the file's quantized coefficient ``c`` with step ``q`` says the original coefficient lay in
``[(c - 1/2) q, (c + 1/2) q]``. Clipping a restored block's coefficients into those intervals is the
orthogonal projection onto a convex set that holds the original, so (up to the encoder's integer DCT
and clamping) it can only move a restoration closer to the original: a safety net for high qualities
where the intervals are narrow. Subsampled chroma is projected at its coded resolution: the correction
of the average-pooled plane is spread back by nearest-neighbour upsampling, which is the exact
orthogonal projection for average pooling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dejpeg.jpeg.coefficients import JpegCoefficients
from dejpeg.jpeg.color import rgb_to_ycbcr_jfif, ycbcr_jfif_to_rgb
from dejpeg.jpeg.dct import dct_matrix_2d


def project_plane(plane: Tensor, quantized: Tensor, table: Tensor, factor: tuple[int, int]) -> Tensor:
    """Project one component plane (8-bit scale, level-shifted by -128) onto its quantization cells.

    Args:
        plane: (H, W) full-resolution component values minus 128.
        quantized: (rows, cols, 8, 8) the file's quantized coefficients of this component.
        table: (8, 8) its quantization table.
        factor: (vertical, horizontal) subsampling of the component relative to the image.

    Returns:
        (H, W) plane whose coded-resolution DCT lies in the file's intervals.
    """
    rows, cols = quantized.shape[:2]
    fy, fx = factor
    h, w = plane.shape
    # Replicate to the coded area, like the encoder's edge extension, then pool to coded resolution.
    coded = plane[None, None]
    if (rows * 8 * fy, cols * 8 * fx) != (h, w):
        coded = F.pad(coded, (0, cols * 8 * fx - w, 0, rows * 8 * fy - h), mode="replicate")
    if (fy, fx) != (1, 1):  # mean of each fy x fx cell, as a sum of strided views (4x faster than avg_pool2d)
        cells = coded.reshape(rows * 8, fy, cols * 8, fx)
        coded = sum(cells[:, i, :, j] for i in range(fy) for j in range(fx)) / (fy * fx)
    # Every block as a raster column, and the 2-D DCT as one 64x64 matrix: a single large GEMM.
    basis = dct_matrix_2d(plane.dtype)
    coefficients = basis @ F.pixel_unshuffle(coded.reshape(1, 1, rows * 8, cols * 8), 8).view(64, rows * cols)
    step = table.reshape(64, 1).to(plane.dtype)
    # Each coefficient's offset from its interval's centre, in steps; clipped to +-1/2, the change it needs.
    offset = coefficients.div_(step).sub_(quantized.permute(2, 3, 0, 1).reshape(64, rows * cols))
    correction = offset.clamp(-0.5, 0.5).sub_(offset).mul_(step)
    delta = F.pixel_shuffle((basis.T @ correction).view(1, 64, rows, cols), 8)[0, 0]
    if (fy, fx) != (1, 1):
        delta = delta[:, None, :, None].expand(-1, fy, -1, fx).reshape(rows * 8 * fy, cols * 8 * fx)
    return plane + delta[:h, :w]


def project_to_coefficients(image: Tensor, coeffs: JpegCoefficients, top: int = 0, left: int = 0) -> Tensor:
    """Clip every block of a restored image (or of a region of it) into the intervals of its source file.

    Args:
        image: (C, h, w) float in [0, 1], gray (C=1) or RGB (C=3): the whole image, or the region whose
            top-left corner is at (``top``, ``left``). A region starts on the file's MCU grid (multiples
            of 8 x the largest sampling factor, e.g. 16 for 4:2:0) and ends on it or at the image edge,
            so that it holds whole coded blocks of every component (this lets large images be projected
            tile by tile with bounded memory).
        coeffs: the source file's coefficients (:func:`dejpeg.codec.read_coefficients`).

    Returns:
        (C, h, w) float, not clamped.
    """
    channels, h, w = image.shape
    if channels != len(coeffs.components):
        raise ValueError(f"image has {channels} channels, the file {len(coeffs.components)} components")
    max_v = max(v for v, _ in coeffs.sampling)
    max_h = max(h_ for _, h_ in coeffs.sampling)
    mcu_y, mcu_x = 8 * max_v, 8 * max_h
    bottom, right = top + h, left + w
    aligned = top % mcu_y == 0 and left % mcu_x == 0
    ends_ok = (bottom == coeffs.height or bottom % mcu_y == 0) and (right == coeffs.width or right % mcu_x == 0)
    if not (aligned and ends_ok and bottom <= coeffs.height and right <= coeffs.width):
        raise ValueError(
            f"region {h}x{w} at ({top}, {left}) does not match the file's {coeffs.height}x{coeffs.width} "
            f"image on its {mcu_y}x{mcu_x} MCU grid"
        )
    planes = (rgb_to_ycbcr_jfif(image[None])[0] if channels == 3 else image) * 255.0 - 128.0
    projected = []
    for plane, quantized, table, (v, h_) in zip(planes, coeffs.components, coeffs.qtables, coeffs.sampling):
        if max_v % v or max_h % h_:
            raise ValueError(f"unsupported sampling factors {coeffs.sampling}")
        fy, fx = max_v // v, max_h // h_
        # This region's coded blocks: up to the region's end, or all the rest at the image edge.
        r0, c0 = top // (8 * fy), left // (8 * fx)
        r1 = quantized.shape[0] if bottom == coeffs.height else bottom // (8 * fy)
        c1 = quantized.shape[1] if right == coeffs.width else right // (8 * fx)
        blocks = torch.tensor(quantized[r0:r1, c0:c1])
        projected.append(project_plane(plane, blocks, torch.tensor(table), (fy, fx)))
    out = (torch.stack(projected) + 128.0) / 255.0
    if channels == 3:
        out = ycbcr_jfif_to_rgb(out[None])[0]
    return out

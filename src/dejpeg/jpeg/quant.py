"""IJG quantization tables and their quality scaling (libjpeg ``jcparam.c``)."""

from __future__ import annotations

import numpy as np

# ITU-T T.81 Annex K tables, raster order.
IJG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int32,
)
IJG_CHROMA = np.array(
    [
        [17, 18, 24, 47, 99, 99, 99, 99],
        [18, 21, 26, 66, 99, 99, 99, 99],
        [24, 26, 56, 99, 99, 99, 99, 99],
        [47, 66, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
    ],
    dtype=np.int32,
)


def quality_to_scale(quality: int) -> int:
    """IJG ``jpeg_quality_scaling``: quality 1..100 to a percentage scale factor."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    quality = int(quality)
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def scale_qtable(base: np.ndarray, quality: int, force_baseline: bool = True) -> np.ndarray:
    """Scale a base table to ``quality`` exactly as libjpeg does (``jpeg_add_quant_table``)."""
    scale = quality_to_scale(quality)
    table = (np.asarray(base, dtype=np.int64) * scale + 50) // 100
    table = np.clip(table, 1, 255 if force_baseline else 32767)
    return table.astype(np.int32)


def ijg_qtables(quality: int) -> np.ndarray:
    """The (2, 8, 8) luma and chroma tables libjpeg writes at ``quality``."""
    return np.stack([scale_qtable(IJG_LUMA, quality), scale_qtable(IJG_CHROMA, quality)])

"""JPEG quantization: IJG tables and their quality scaling (libjpeg ``jcparam.c``), and the quality a file's
tables were made with.

Quality estimation: candidates are the libjpeg tables for every quality 1..100, both baseline (entries clipped to
255, what Pillow and ``cjpeg -baseline`` write) and non-baseline (clipped to 32767, what
``cjpeg`` writes by default below quality ~24). All 100 baseline luma tables are distinct, so
an IJG-made file has exactly one exact answer; chroma tables alone are not (q = 1, 2, 3 all
give all-255), which is why slot 0 is always compared with the luma table.

Tie rule: among candidates with the same error (exact or not) the highest quality wins.
"""

from __future__ import annotations

from typing import NamedTuple

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


def luma_chroma_tables(qtables: np.ndarray) -> np.ndarray:
    """(2, 8, 8) luma and chroma tables from a file's (N, 8, 8) or (8, 8) ones: a gray file's single table
    serves both (the models' inputs always have two), extra tables past the chroma one are dropped."""
    tables = np.asarray(qtables).reshape(-1, 8, 8)
    return np.concatenate([tables, tables])[:2] if len(tables) == 1 else tables[:2]


QUALITIES = np.arange(1, 101)


class QualityEstimate(NamedTuple):
    """``quality`` 1..100; ``exact``: the tables are IJG's at that quality;
    ``error``: mean squared difference of log table entries to that candidate (0 when exact)."""

    quality: int
    exact: bool
    error: float


def _candidates(force_baseline: bool) -> np.ndarray:
    """(100, 2, 8, 8) float64 luma/chroma tables for qualities 1..100."""
    return np.stack(
        [
            np.stack([scale_qtable(IJG_LUMA, q, force_baseline), scale_qtable(IJG_CHROMA, q, force_baseline)])
            for q in QUALITIES
        ]
    ).astype(np.float64)


_CANDIDATES = np.stack([_candidates(True), _candidates(False)])  # (2, 100, 2, 8, 8)


def _as_tables(qtables: np.ndarray) -> np.ndarray:
    tables = np.asarray(qtables)
    if tables.ndim == 2:
        tables = tables[None]
    if tables.ndim != 3 or tables.shape[1:] != (8, 8) or len(tables) == 0:
        raise ValueError(f"expected (N, 8, 8) or (8, 8) quantization tables, got shape {tables.shape}")
    if not np.issubdtype(tables.dtype, np.number) or tables.min() < 1 or np.any(tables != np.round(tables)):
        raise ValueError("quantization tables must hold positive integers")
    return tables


def estimate_quality(qtables: np.ndarray) -> QualityEstimate:
    """The IJG quality whose tables match (exactly, or nearest in log space).

    Args:
        qtables: (N, 8, 8) or (8, 8) integer tables in raster order, table 0 luma and any others chroma
            (as :func:`dejpeg.codec.read_qtables` returns them).
    """
    tables = _as_tables(qtables).astype(np.float64)
    # Table 0 against luma, every further table against chroma.
    kind = np.minimum(np.arange(len(tables)), 1)
    reference = _CANDIDATES[:, :, kind]  # (2, 100, N, 8, 8)
    errors = np.mean((np.log(reference) - np.log(tables)) ** 2, axis=(2, 3, 4)).min(axis=0)  # (100,)
    best = len(QUALITIES) - 1 - int(np.argmin(errors[::-1]))  # highest quality among ties
    exact = bool(np.any(np.all(reference[:, best] == tables, axis=(1, 2, 3))))
    return QualityEstimate(quality=int(QUALITIES[best]), exact=exact, error=0.0 if exact else float(errors[best]))

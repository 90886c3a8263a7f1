"""Estimate the IJG quality factor a JPEG was saved with, from its quantization tables.

Candidates are the libjpeg tables for every quality 1..100, both baseline (entries clipped to
255, what Pillow and ``cjpeg -baseline`` write) and non-baseline (clipped to 32767, what
``cjpeg`` writes by default below quality ~24). All 100 baseline luma tables are distinct, so
an IJG-made file has exactly one exact answer; chroma tables alone are not (q = 1, 2, 3 all
give all-255), which is why slot 0 is always compared with the luma table.

Tie rule: among candidates with the same error (exact or not) the highest quality wins.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from dejpeg.jpeg.codec import read_qtables
from dejpeg.jpeg.quant import IJG_CHROMA, IJG_LUMA, scale_qtable

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


def _as_tables(qtables_or_source: np.ndarray | str | os.PathLike | bytes) -> np.ndarray:
    if isinstance(qtables_or_source, (str, os.PathLike, bytes, bytearray)):
        return read_qtables(qtables_or_source)
    tables = np.asarray(qtables_or_source)
    if tables.ndim == 2:
        tables = tables[None]
    if tables.ndim != 3 or tables.shape[1:] != (8, 8) or len(tables) == 0:
        raise ValueError(f"expected (N, 8, 8) or (8, 8) quantization tables, got shape {tables.shape}")
    if not np.issubdtype(tables.dtype, np.number) or tables.min() < 1 or np.any(tables != np.round(tables)):
        raise ValueError("quantization tables must hold positive integers")
    return tables


def estimate_quality(qtables_or_source: np.ndarray | str | os.PathLike | bytes) -> QualityEstimate:
    """The IJG quality whose tables match (exactly, or nearest in log space).

    Args:
        qtables_or_source: (N, 8, 8) or (8, 8) integer tables in raster order, table 0 luma
            and any others chroma (as :func:`read_qtables` returns them), or a JPEG
            path / bytes to read them from.
    """
    tables = _as_tables(qtables_or_source).astype(np.float64)
    # Table 0 against luma, every further table against chroma.
    kind = np.minimum(np.arange(len(tables)), 1)
    reference = _CANDIDATES[:, :, kind]  # (2, 100, N, 8, 8)
    errors = np.mean((np.log(reference) - np.log(tables)) ** 2, axis=(2, 3, 4)).min(axis=0)  # (100,)
    best = len(QUALITIES) - 1 - int(np.argmin(errors[::-1]))  # highest quality among ties
    exact = bool(np.any(np.all(reference[:, best] == tables, axis=(1, 2, 3))))
    return QualityEstimate(quality=int(QUALITIES[best]), exact=exact, error=0.0 if exact else float(errors[best]))

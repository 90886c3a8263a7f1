"""Compression settings defined by outcome: hit a target size ratio, or compress twice."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image

from dejpeg.codec.jpeg import SUBSAMPLING, encode, jpeg_roundtrip

QUALITY_MIN, QUALITY_MAX = 1, 100


class RatioResult(NamedTuple):
    """Outcome of :func:`compress_to_ratio`.

    ``data`` and ``quality`` are the closest attempt even when ``ok`` is False; ``reason`` says
    why the target was missed ("" when ``ok``).
    """

    data: bytes
    quality: int
    ratio_achieved: float
    ok: bool
    reason: str


def _check_u8(image_u8: np.ndarray) -> None:
    if not isinstance(image_u8, np.ndarray) or image_u8.dtype != np.uint8:
        raise ValueError(f"expected a uint8 numpy image, got {getattr(image_u8, 'dtype', type(image_u8))}")
    if not (image_u8.ndim == 2 or (image_u8.ndim == 3 and image_u8.shape[2] == 3)):
        raise ValueError(f"expected (H, W) gray or (H, W, 3) RGB, got shape {image_u8.shape}")


def compress_to_ratio(
    image_u8: np.ndarray,
    ratio: float,
    subsampling: str = "420",
    gray: bool = False,
    tolerance: float = 0.05,
) -> RatioResult:
    """The IJG quality whose file size is closest to ``ratio`` times the raw size.

    ``ratio = len(jpeg bytes) / (H * W * C)`` with ``C`` the channels actually encoded (1 for
    gray). Size grows with quality almost monotonically, so a binary search finds the
    crossing, then the qualities around it are tried too (small non-monotonic spots) and
    the one with the smallest relative error wins.

    Args:
        image_u8: (H, W) gray or (H, W, 3) RGB uint8.
        ratio: target compressed/raw size ratio, > 0.
        subsampling: ``"444"``, ``"422"`` or ``"420"`` (colour only).
        gray: encode a single-channel JPEG; RGB input is first converted with Pillow's
            ``convert("L")`` (ITU-R 601 luma, as the JPEG encoder computes Y).
        tolerance: accepted relative error ``|achieved - ratio| / ratio``.

    Returns:
        A :class:`RatioResult`; ``ok`` is False, with a reason, when no quality lands
        within ``tolerance`` (target beyond what quality 1 or 100 reaches, or between two
        adjacent qualities whose sizes jump further apart than the tolerance).
    """
    _check_u8(image_u8)
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio must be a positive finite number, got {ratio}")
    if subsampling not in SUBSAMPLING:
        raise ValueError(f"subsampling must be one of {sorted(SUBSAMPLING)}, got {subsampling!r}")
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance}")
    if gray and image_u8.ndim == 3:
        image_u8 = np.asarray(Image.fromarray(image_u8, mode="RGB").convert("L"))
    raw_bytes = image_u8.size
    encoded: dict[int, bytes] = {}

    def achieved(quality: int) -> float:
        if quality not in encoded:
            encoded[quality] = encode(image_u8, quality=quality, subsampling=subsampling)
        return len(encoded[quality]) / raw_bytes

    def result(quality: int, ok: bool, reason: str) -> RatioResult:
        return RatioResult(encoded[quality], quality, achieved(quality), ok, reason)

    def relative_error(quality: int) -> float:
        return abs(achieved(quality) - ratio) / ratio

    lowest, highest = achieved(QUALITY_MIN), achieved(QUALITY_MAX)
    if ratio < lowest and relative_error(QUALITY_MIN) > tolerance:
        reason = f"ratio {ratio:.4g} is below what quality {QUALITY_MIN} reaches ({lowest:.4g})"
        return result(QUALITY_MIN, False, reason)
    if ratio > highest and relative_error(QUALITY_MAX) > tolerance:
        reason = f"ratio {ratio:.4g} is above what quality {QUALITY_MAX} reaches ({highest:.4g})"
        return result(QUALITY_MAX, False, reason)

    # Smallest quality whose ratio reaches the target (assuming monotonicity).
    low, high = QUALITY_MIN, QUALITY_MAX
    while low < high:
        middle = (low + high) // 2
        if achieved(middle) >= ratio:
            high = middle
        else:
            low = middle + 1
    neighbours = range(max(QUALITY_MIN, low - 2), min(QUALITY_MAX, low + 2) + 1)
    # Highest quality among equally good candidates: same size, better image.
    best = min(neighbours, key=lambda q: (relative_error(q), -q))
    if relative_error(best) <= tolerance:
        return result(best, True, "")
    below = max((q for q in neighbours if achieved(q) < ratio), default=best)
    above = min((q for q in neighbours if achieved(q) >= ratio), default=best)
    reason = (
        f"no quality within {tolerance:.0%} of ratio {ratio:.4g}: quality {below} gives "
        f"{achieved(below):.4g} and quality {above} gives {achieved(above):.4g}"
    )
    return result(best, False, reason)


def double_compress(
    image_u8: np.ndarray,
    quality_first: int,
    quality_second: int,
    shift: tuple[int, int] = (0, 0),
    subsampling: str = "420",
) -> tuple[np.ndarray, bytes]:
    """Compress at ``quality_first``, decode, optionally shift the grid, compress at ``quality_second``.

    The grid shift is done by cropping: the first ``dy`` rows and ``dx`` columns of the
    first decode are dropped before the second pass, so the second 8x8 grid is offset by
    ``(dy, dx)`` from the first (no padding is invented). Shifts are in 0..7 for the luma
    grid; with 4:2:0 the chroma grid (16 px) is shifted by the same pixels.

    Returns:
        The second decode, uint8 of shape ``(H - dy, W - dx)`` (gray) or
        ``(H - dy, W - dx, 3)``, and the second JPEG's bytes.
    """
    _check_u8(image_u8)
    dy, dx = shift
    if not (0 <= dy < 8 and 0 <= dx < 8):
        raise ValueError(f"shift must be (dy, dx) with both in 0..7, got {shift}")
    if dy >= image_u8.shape[0] or dx >= image_u8.shape[1]:
        raise ValueError(f"shift {shift} leaves nothing of a {image_u8.shape[:2]} image")
    first, _ = jpeg_roundtrip(image_u8, quality=quality_first, subsampling=subsampling)
    shifted = np.ascontiguousarray(first[dy:, dx:])
    return jpeg_roundtrip(shifted, quality=quality_second, subsampling=subsampling)

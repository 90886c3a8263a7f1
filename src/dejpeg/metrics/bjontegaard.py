"""Bjøntegaard delta rate and PSNR (BD-rate, BD-PSNR): the average gap between two rate-distortion curves.

G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves", ITU-T VCEG-M33 (2001): fit the
logarithm of the rate as a cubic polynomial of the PSNR (least squares; exact through four points), integrate both
fits over the PSNR range the two curves share, and turn the mean log-rate difference into a percentage of the
anchor's rate (BD-PSNR swaps the axes: PSNR as a cubic of the log-rate, the mean PSNR difference in dB).

``method="pchip"`` interpolates with piecewise cubic Hermite polynomials instead (Fritsch-Carlson slopes, as MATLAB's
and SciPy's ``pchip``), the interpolation the JCT-VC common-test-condition spreadsheets adopted because one cubic
through many points can swing away from them; it passes through every point and keeps a monotone curve monotone.

``rate_range=(low, high)`` restricts the comparison to rates in that interval (e.g. 0.1-0.5 bits per pixel): BD-rate
then averages over the PSNRs at which *both* fitted curves code at a rate inside the interval (and inside both
curves' measured PSNR ranges); BD-PSNR over the log-rates inside it and inside both curves' measured rate ranges.
The fits are those of the whole curves, so the points outside the interval still shape the curve inside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METHODS = ("cubic", "pchip")
#: Points each method needs.
MIN_POINTS = {"cubic": 4, "pchip": 2}
_BISECTIONS = 200
_MONOTONE_GRID = 1001


class _PiecewiseCubic:
    """y(x) as cubics in ``x - breaks[k]`` on ``[breaks[k], breaks[k + 1]]``: ``coeffs[k] = (c0, c1, c2, c3)``."""

    def __init__(self, breaks: np.ndarray, coeffs: np.ndarray) -> None:
        self.breaks = breaks
        self.coeffs = coeffs
        widths = np.diff(breaks)
        pieces = self._primitive(np.arange(len(coeffs)), widths)
        self.cumulative = np.concatenate([[0.0], np.cumsum(pieces)])

    @classmethod
    def least_squares(cls, x: np.ndarray, y: np.ndarray) -> _PiecewiseCubic:
        """One cubic fitted to all points (VCEG-M33), in ``x - x[0]`` for conditioning."""
        c3, c2, c1, c0 = np.polyfit(x - x[0], y, 3)
        return cls(np.array([x[0], x[-1]]), np.array([[c0, c1, c2, c3]]))

    @classmethod
    def pchip(cls, x: np.ndarray, y: np.ndarray) -> _PiecewiseCubic:
        """Hermite cubics through every point with Fritsch-Carlson slopes, for strictly increasing ``x`` and ``y``
        (so no slope changes sign: interior slopes are the weighted harmonic means of the neighbouring secants, the
        end slopes the three-point formula, set to 0 where it points the wrong way)."""
        h = np.diff(x)
        secant = np.diff(y) / h
        slopes = np.empty_like(x)
        if len(x) == 2:
            slopes[:] = secant[0]
        else:
            w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
            slopes[1:-1] = (w1 + w2) / (w1 / secant[:-1] + w2 / secant[1:])
            for end, (h0, h1, m0, m1) in ((0, (h[0], h[1], secant[0], secant[1])),
                                          (-1, (h[-1], h[-2], secant[-1], secant[-2]))):  # fmt: skip
                slopes[end] = max(((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1), 0.0)
        d0, d1 = slopes[:-1], slopes[1:]
        coeffs = np.stack([y[:-1], d0, (3 * secant - 2 * d0 - d1) / h, (d0 + d1 - 2 * secant) / h**2], axis=1)
        return cls(x, coeffs)

    def _piece(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = np.clip(np.searchsorted(self.breaks, v, side="right") - 1, 0, len(self.coeffs) - 1)
        return k, v - self.breaks[k]

    def _primitive(self, k: np.ndarray, s: np.ndarray) -> np.ndarray:
        c0, c1, c2, c3 = self.coeffs[k].T
        return s * (c0 + s * (c1 / 2 + s * (c2 / 3 + s * c3 / 4)))

    def __call__(self, v: np.ndarray | float) -> np.ndarray:
        k, s = self._piece(np.asarray(v, dtype=np.float64))
        c0, c1, c2, c3 = self.coeffs[k].T
        return c0 + s * (c1 + s * (c2 + s * c3))

    def integral(self, a: float, b: float) -> float:
        k, s = self._piece(np.array([a, b]))
        ends = self.cumulative[k] + self._primitive(k, s)
        return float(ends[1] - ends[0])

    def inverse(self, target: float) -> float:
        """The x in [breaks[0], breaks[-1]] where the (increasing) curve reaches ``target``, clipped to the ends."""
        lo, hi = float(self.breaks[0]), float(self.breaks[-1])
        if np.any(np.diff(self(np.linspace(lo, hi, _MONOTONE_GRID))) < 0):
            raise ValueError("the fitted curve is not increasing, so a rate range has no PSNR range: use pchip")
        if target <= self(lo):
            return lo
        if target >= self(hi):
            return hi
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            lo, hi = (mid, hi) if self(mid) < target else (lo, mid)
        return (lo + hi) / 2


def _curve(rates: Sequence[float], psnrs: Sequence[float], name: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(log10 rates, PSNRs) sorted by rate, checked: a rate-distortion curve whose PSNR rises with its rate."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    r, p = np.asarray(rates, dtype=np.float64), np.asarray(psnrs, dtype=np.float64)
    if r.ndim != 1 or r.shape != p.shape:
        raise ValueError(f"{name}: rates and PSNRs must be 1-D and of one length, got {r.shape} and {p.shape}")
    if len(r) < MIN_POINTS[method]:
        raise ValueError(f"{name}: {method} needs at least {MIN_POINTS[method]} points, got {len(r)}")
    if not (np.isfinite(r).all() and np.isfinite(p).all() and (r > 0).all()):
        raise ValueError(f"{name}: rates must be positive and finite, PSNRs finite")
    order = np.argsort(r)
    r, p = r[order], p[order]
    if (np.diff(r) <= 0).any() or (np.diff(p) <= 0).any():
        raise ValueError(f"{name}: the PSNR must rise strictly with the rate (points {r.tolist()} / {p.tolist()})")
    return np.log10(r), p


def _fit(x: np.ndarray, y: np.ndarray, method: str) -> _PiecewiseCubic:
    return _PiecewiseCubic.least_squares(x, y) if method == "cubic" else _PiecewiseCubic.pchip(x, y)


def _range(rate_range: tuple[float, float] | None) -> tuple[float, float] | None:
    if rate_range is None:
        return None
    low, high = map(float, rate_range)
    if not 0 < low < high:
        raise ValueError(f"rate_range must be (low, high) with 0 < low < high, got {rate_range}")
    return np.log10(low), np.log10(high)


def _check_interval(lo: float, hi: float, what: str, rate_range: tuple[float, float] | None) -> None:
    if not hi > lo:
        within = "" if rate_range is None else f" within rates {rate_range[0]:g}-{rate_range[1]:g}"
        raise ValueError(f"the curves share no {what} range{within}: their BD difference is undefined")


def bd_rate(
    anchor_rates: Sequence[float],
    anchor_psnrs: Sequence[float],
    test_rates: Sequence[float],
    test_psnrs: Sequence[float],
    method: str = "pchip",
    rate_range: tuple[float, float] | None = None,
) -> float:
    """Mean rate difference of ``test`` against ``anchor`` at equal PSNR, in per cent of the anchor's rate.

    Args:
        anchor_rates, anchor_psnrs: the anchor's points (any positive rate unit, e.g. bits per pixel; dB), in any
            order; the PSNR must rise strictly with the rate.
        test_rates, test_psnrs: the test curve's, likewise.
        method: "pchip" (piecewise cubic Hermite, 2 points or more) or "cubic" (VCEG-M33, 4 or more).
        rate_range: (low, high) in the rates' unit: only the PSNRs at which both curves code within it (module
            docstring).

    Returns:
        Per cent: -10.0 means the test curve needs 10 % fewer bits for the same PSNR.

    Raises:
        ValueError: malformed curves, or curves that share no PSNR range (within ``rate_range``).

    Example:
        >>> rates, psnrs = [0.25, 0.5, 1.0, 2.0], [28.0, 31.0, 34.0, 37.0]
        >>> round(bd_rate(rates, psnrs, [0.9 * r for r in rates], psnrs), 6)
        -10.0
    """
    log_rates_a, psnrs_a = _curve(anchor_rates, anchor_psnrs, "anchor", method)
    log_rates_t, psnrs_t = _curve(test_rates, test_psnrs, "test", method)
    anchor, test = _fit(psnrs_a, log_rates_a, method), _fit(psnrs_t, log_rates_t, method)  # log-rate of PSNR
    lo, hi = max(psnrs_a[0], psnrs_t[0]), min(psnrs_a[-1], psnrs_t[-1])
    _check_interval(lo, hi, "PSNR", None)
    logs = _range(rate_range)
    if logs is not None:
        for curve in (anchor, test):
            lo, hi = max(lo, curve.inverse(logs[0])), min(hi, curve.inverse(logs[1]))
        _check_interval(lo, hi, "PSNR", rate_range)
    mean_log_difference = (test.integral(lo, hi) - anchor.integral(lo, hi)) / (hi - lo)
    return float((10**mean_log_difference - 1) * 100)


def bd_psnr(
    anchor_rates: Sequence[float],
    anchor_psnrs: Sequence[float],
    test_rates: Sequence[float],
    test_psnrs: Sequence[float],
    method: str = "pchip",
    rate_range: tuple[float, float] | None = None,
) -> float:
    """Mean PSNR difference of ``test`` against ``anchor`` at equal rate (over the log-rate), in dB; arguments as
    :func:`bd_rate`, ``rate_range`` cutting the log-rate interval directly.

    Example:
        >>> round(bd_psnr([0.25, 0.5, 1.0, 2.0], [28, 31, 34, 37], [0.25, 0.5, 1.0, 2.0], [28.5, 31.5, 34.5, 37.5]), 6)
        0.5
    """
    log_rates_a, psnrs_a = _curve(anchor_rates, anchor_psnrs, "anchor", method)
    log_rates_t, psnrs_t = _curve(test_rates, test_psnrs, "test", method)
    anchor, test = _fit(log_rates_a, psnrs_a, method), _fit(log_rates_t, psnrs_t, method)  # PSNR of log-rate
    lo, hi = max(log_rates_a[0], log_rates_t[0]), min(log_rates_a[-1], log_rates_t[-1])
    _check_interval(lo, hi, "rate", None)
    logs = _range(rate_range)
    if logs is not None:
        lo, hi = max(lo, logs[0]), min(hi, logs[1])
        _check_interval(lo, hi, "rate", rate_range)
    return float((test.integral(lo, hi) - anchor.integral(lo, hi)) / (hi - lo))

"""BD-rate and BD-PSNR on curves whose answer follows by hand, and PCHIP against SciPy's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dejpeg.metrics import bd_psnr, bd_rate

METHODS = ["cubic", "pchip"]
# A curved anchor (not a line in log-rate): 6 points, rates 0.12..1.6 bits per pixel.
RATES = [0.12, 0.2, 0.35, 0.6, 1.0, 1.6]
PSNRS = [24.1, 26.0, 28.3, 30.6, 32.9, 35.0]


def line(psnrs: np.ndarray, a: float = 30.0, b: float = 10.0) -> np.ndarray:
    """Rates of the curve PSNR = a + b log10(rate): a straight line in log-rate, which both methods fit exactly."""
    return 10 ** ((psnrs - a) / b)


@pytest.mark.parametrize("method", METHODS)
def test_identical_curves_differ_by_nothing(method):
    assert bd_rate(RATES, PSNRS, RATES, PSNRS, method) == pytest.approx(0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS, method) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_a_tenth_fewer_bits_everywhere_is_minus_ten_percent(method):
    """log(0.9 r) = log r + log 0.9 at every point: both fits shift by that constant, whatever the curve's shape."""
    fewer = [0.9 * r for r in RATES]
    assert bd_rate(RATES, PSNRS, fewer, PSNRS, method) == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(fewer, PSNRS, RATES, PSNRS, method) == pytest.approx(100 / 0.9 - 100, abs=1e-9)
    # ... and within a rate range, at the PSNRs where both code at 0.1-0.5 (still a constant shift)
    assert bd_rate(RATES, PSNRS, fewer, PSNRS, method, rate_range=(0.1, 0.5)) == pytest.approx(-10.0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_a_psnr_shift_on_a_log_linear_curve(method):
    """PSNR = 30 + 10 log10(r), the test curve 0.5 dB higher at every rate: BD-PSNR 0.5 dB; at equal PSNR the test
    curve needs 10^(-0.5 / 10) of the rate, so BD-rate = 10^-0.05 - 1 = -10.87 %."""
    psnrs = np.array([24.0, 27.0, 30.0, 33.0, 36.0])
    rates = line(psnrs)
    assert bd_psnr(rates, psnrs, rates, psnrs + 0.5, method) == pytest.approx(0.5, abs=1e-9)
    assert bd_rate(rates, psnrs, rates, psnrs + 0.5, method) == pytest.approx((10**-0.05 - 1) * 100, abs=1e-9)


def test_a_rate_range_averages_over_the_psnrs_where_both_code_inside_it():
    """Anchor log10 r = (P - 30) / 10, test log10 r = anchor + 0.02 (P - 30): both lines, fitted exactly. Within
    0.1-0.5 the anchor spans P 20..26.99 and the test (log10 r = 0.12 P - 3.6) P 21.67..27.49, so the PSNR range is
    21.67..26.99; the log-rate difference 0.02 (P - 30) averages 0.02 (mid - 30) over it."""
    psnrs = np.linspace(18.0, 38.0, 6)
    anchor = line(psnrs)
    test = 10 ** (np.log10(anchor) + 0.02 * (psnrs - 30))
    lo, hi = (math.log10(0.1) + 3.6) / 0.12, 30 + 10 * math.log10(0.5)
    expected = (10 ** (0.02 * ((lo + hi) / 2 - 30)) - 1) * 100
    for method in METHODS:
        assert bd_rate(anchor, psnrs, test, psnrs, method, rate_range=(0.1, 0.5)) == pytest.approx(expected, abs=1e-7)
        full = (10 ** (0.02 * (28 - 30)) - 1) * 100  # the shared range is the data's, 18..38 dB
        assert bd_rate(anchor, psnrs, test, psnrs, method) == pytest.approx(full, abs=1e-9)
        # BD-PSNR within 0.1-0.5: test P = (x + 3.6) / 0.12 against anchor P = 10 x + 30 over log10 r = x in
        # [-1, log10 0.5], linear in x, so its mean is its value at the middle
        middle = (-1 + math.log10(0.5)) / 2
        gap = (middle + 3.6) / 0.12 - (10 * middle + 30)
        assert bd_psnr(anchor, psnrs, test, psnrs, method, rate_range=(0.1, 0.5)) == pytest.approx(gap, abs=1e-9)


def test_pchip_matches_scipys_interpolant():
    """The same BD-rate as SciPy's PchipInterpolator (an independent implementation) integrated exactly."""
    interpolate = pytest.importorskip("scipy.interpolate", reason="SciPy is the independent PCHIP reference")
    test_rates = [0.1, 0.18, 0.3, 0.55, 0.9, 1.5]
    test_psnrs = [24.5, 26.6, 28.6, 31.0, 33.1, 35.4]
    lo, hi = 24.5, 35.0  # the shared PSNR range
    anchor = interpolate.PchipInterpolator(PSNRS, np.log10(RATES)).integrate(lo, hi)
    test = interpolate.PchipInterpolator(test_psnrs, np.log10(test_rates)).integrate(lo, hi)
    expected = (10 ** ((test - anchor) / (hi - lo)) - 1) * 100
    assert bd_rate(RATES, PSNRS, test_rates, test_psnrs, "pchip") == pytest.approx(expected, abs=1e-9)


def test_the_cubic_fit_reproduces_points_on_a_cubic():
    """Five points on the cubic log10 r = A(P): the least-squares cubic is A itself, so a test curve A(P) + 0.01 (P -
    30) (a cubic too) differs by 0.01 (P - 30) on average over the shared 25..37 dB: 0.01 (31 - 30) = 0.01."""
    psnrs = np.array([25.0, 28.0, 31.0, 34.0, 37.0])
    log_rates = -1 + 0.1 * (psnrs - 25) + 0.0004 * (psnrs - 28) ** 3
    test = 10 ** (log_rates + 0.01 * (psnrs - 30))
    assert bd_rate(10**log_rates, psnrs, test, psnrs, "cubic") == pytest.approx((10**0.01 - 1) * 100, abs=1e-9)


def test_order_of_the_points_does_not_matter():
    order = [3, 0, 5, 1, 4, 2]
    shuffled = ([RATES[i] for i in order], [PSNRS[i] for i in order])
    test = ([0.8 * r for r in RATES], [p + 0.1 for p in PSNRS])
    assert bd_rate(*shuffled, *test) == pytest.approx(bd_rate(RATES, PSNRS, *test), abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_curves_without_overlap_are_refused(method):
    low = ([0.1, 0.15, 0.2, 0.3], [22.0, 23.0, 24.0, 25.0])
    high = ([1.0, 1.5, 2.0, 3.0], [32.0, 33.0, 34.0, 35.0])
    with pytest.raises(ValueError, match="share no PSNR range"):
        bd_rate(*low, *high, method)
    with pytest.raises(ValueError, match="share no rate range"):
        bd_psnr(*low, *high, method)
    with pytest.raises(ValueError, match=r"share no PSNR range within rates 2-3"):
        bd_rate(RATES, PSNRS, RATES, PSNRS, method, rate_range=(2, 3))


def test_malformed_curves_are_refused():
    with pytest.raises(ValueError, match="rise strictly"):
        bd_rate(RATES, PSNRS, [0.1, 0.2, 0.3, 0.4], [30.0, 29.0, 31.0, 32.0])
    with pytest.raises(ValueError, match="at least 4 points"):
        bd_rate(RATES, PSNRS, [0.1, 0.2, 0.3], [25.0, 27.0, 29.0], "cubic")
    with pytest.raises(ValueError, match="positive"):
        bd_rate(RATES, PSNRS, [0.0, 0.2], [25.0, 27.0])
    with pytest.raises(ValueError, match="method"):
        bd_rate(RATES, PSNRS, RATES, PSNRS, "akima")
    with pytest.raises(ValueError, match="rate_range"):
        bd_rate(RATES, PSNRS, RATES, PSNRS, rate_range=(0.5, 0.1))

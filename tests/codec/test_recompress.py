"""Compress-to-ratio search and double compression."""

from __future__ import annotations

import numpy as np
import pytest

from dejpeg.codec import compress_to_ratio, decode, double_compress, encode, jpeg_roundtrip, read_qtables
from dejpeg.jpeg import estimate_quality


@pytest.fixture
def image(natural_image) -> np.ndarray:
    return natural_image(96, 128)


def _all_ratios(image: np.ndarray, subsampling: str = "420") -> np.ndarray:
    """Brute force, the independent reference: the ratio at every quality 1..100."""
    return np.array([len(encode(image, quality=q, subsampling=subsampling)) / image.size for q in range(1, 101)])


@pytest.mark.parametrize("target", [0.025, 0.04, 0.06, 0.09, 0.12, 0.24])
def test_lands_within_five_percent(image: np.ndarray, target: float) -> None:
    result = compress_to_ratio(image, target)
    assert result.ok, result.reason
    assert result.reason == ""
    assert abs(result.ratio_achieved - target) / target <= 0.05
    assert result.ratio_achieved == len(result.data) / image.size
    assert estimate_quality(read_qtables(result.data)).quality == result.quality
    assert decode(result.data).shape == image.shape


def test_ok_agrees_with_brute_force(image: np.ndarray) -> None:
    """For targets on a grid, ok exactly when some quality lands within 5%; never a worse pick."""
    ratios = _all_ratios(image, "444")
    for target in np.geomspace(ratios[0] * 0.9, ratios[-1] * 1.1, 25):
        result = compress_to_ratio(image, float(target), subsampling="444")
        errors = np.abs(ratios - target) / target
        assert result.ok == bool(errors.min() <= 0.05), (target, result)
        assert errors[result.quality - 1] <= errors.min() + 1e-12 or result.ok


def test_gray(image: np.ndarray) -> None:
    result = compress_to_ratio(image, 0.1, gray=True)
    assert result.ok, result.reason
    assert decode(result.data).ndim == 2
    assert abs(len(result.data) / (96 * 128) - 0.1) <= 0.005  # raw size counts one channel


@pytest.mark.parametrize("target,where", [(0.001, "below what quality 1"), (5.0, "above what quality 100")])
def test_impossible_targets_say_why(image: np.ndarray, target: float, where: str) -> None:
    result = compress_to_ratio(image, target)
    assert not result.ok
    assert where in result.reason
    assert result.quality == (1 if target < 1 else 100)


def test_gap_between_adjacent_qualities(image: np.ndarray) -> None:
    ratios = _all_ratios(image)
    jumps = ratios[1:] / ratios[:-1]
    q = int(np.argmax(jumps)) + 1  # ratios of qualities q and q+1 differ the most
    assert jumps[q - 1] > 1.11, "fixture no longer has a gap wider than the tolerance"
    target = float(np.sqrt(ratios[q - 1] * ratios[q]))
    result = compress_to_ratio(image, target)
    assert not result.ok
    assert "no quality within 5%" in result.reason
    assert result.quality in (q, q + 1)


def test_does_not_modify_input_and_validates(image: np.ndarray) -> None:
    before = image.copy()
    compress_to_ratio(image, 0.05, gray=True)
    double_compress(image, 50, 70, shift=(2, 3))
    np.testing.assert_array_equal(image, before)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            compress_to_ratio(image, bad)
    with pytest.raises(ValueError):
        compress_to_ratio(image, 0.1, subsampling="411")
    with pytest.raises(ValueError):
        compress_to_ratio(image.astype(np.float32), 0.1)


def test_double_compress_unshifted_is_two_roundtrips(image: np.ndarray) -> None:
    decoded, data = double_compress(image, 40, 80)
    first, _ = jpeg_roundtrip(image, quality=40)
    expected, expected_data = jpeg_roundtrip(first, quality=80)
    np.testing.assert_array_equal(decoded, expected)
    assert data == expected_data
    assert estimate_quality(read_qtables(data)).quality == 80


def test_double_compress_shift_crops(natural_image) -> None:
    gray = natural_image(64, 80, channels=1)
    decoded, data = double_compress(gray, 30, 95, shift=(3, 5), subsampling="444")
    assert decoded.shape == (61, 75)
    assert decode(data).shape == (61, 75)
    first, _ = jpeg_roundtrip(gray, quality=30, subsampling="444")
    # Cropped top-left: the second decode follows first[3:, 5:], not first[:-3, :-5].
    kept = np.abs(decoded.astype(int) - first[3:, 5:]).mean()
    assert kept < 2
    assert kept < np.abs(decoded.astype(int) - first[:-3, :-5]).mean() / 2


@pytest.mark.parametrize("shift", [(8, 0), (0, -1), (0, 9)])
def test_double_compress_bad_shift(image: np.ndarray, shift: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="shift"):
        double_compress(image, 50, 50, shift=shift)


def test_double_compress_bad_quality(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="quality"):
        double_compress(image, 0, 50)

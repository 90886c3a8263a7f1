"""IJG quality estimation from quantization tables."""

from __future__ import annotations

import numpy as np
import pytest

from dejpeg.codec import encode, read_qtables
from dejpeg.jpeg import IJG_CHROMA, IJG_LUMA, estimate_quality, ijg_qtables, scale_qtable


def test_all_ijg_luma_tables_are_distinct() -> None:
    """Why no tie rule is needed for IJG files: every quality has its own luma table."""
    luma = {ijg_qtables(q)[0].tobytes() for q in range(1, 101)}
    assert len(luma) == 100


@pytest.mark.parametrize("channels", [1, 3])
def test_exact_for_every_quality(natural_image, channels: int) -> None:
    image = natural_image(16, 16, channels=channels)
    for quality in range(1, 101):
        estimate = estimate_quality(read_qtables(encode(image, quality=quality)))
        assert estimate == (quality, True, 0.0), quality


def test_reads_paths(natural_image, tmp_path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(encode(natural_image(16, 16), quality=63))
    assert estimate_quality(read_qtables(path)).quality == 63
    assert estimate_quality(read_qtables(str(path))).quality == 63


def test_non_baseline_tables_are_exact() -> None:
    """cjpeg without -baseline keeps entries above 255 at low quality."""
    for quality in (1, 5, 10, 23):
        tables = np.stack([scale_qtable(IJG_LUMA, quality, False), scale_qtable(IJG_CHROMA, quality, False)])
        assert tables.max() > 255
        assert estimate_quality(tables) == (quality, True, 0.0)


def test_single_table_and_three_tables() -> None:
    luma, chroma = ijg_qtables(42)
    assert estimate_quality(luma) == (42, True, 0.0)
    assert estimate_quality(np.stack([luma, chroma, chroma])) == (42, True, 0.0)


def test_nearest_for_non_ijg_tables() -> None:
    tables = ijg_qtables(70).copy()
    tables[0, 7, 7] += 9  # a hand-tuned table: close to q70 but not IJG
    estimate = estimate_quality(tables)
    assert estimate.quality == 70 and not estimate.exact and estimate.error > 0
    # A uniform 10% coarser table (IJG scale 110 would be quality ~45.5) lands in between.
    coarser = np.round(ijg_qtables(50) * 1.1)
    estimate = estimate_quality(coarser)
    assert 44 <= estimate.quality <= 47 and not estimate.exact


def test_chroma_is_compared_with_chroma() -> None:
    """Luma at q80 with chroma at q20: an estimate between them, not exact."""
    tables = np.stack([ijg_qtables(80)[0], ijg_qtables(20)[1]])
    estimate = estimate_quality(tables)
    assert 20 < estimate.quality < 80 and not estimate.exact


@pytest.mark.parametrize(
    "bad",
    [np.zeros((8, 8), int), np.ones((3, 8)), np.full((8, 8), 1.5), np.ones((0, 8, 8)), b"not a jpeg"],
)
def test_bad_input(bad) -> None:
    with pytest.raises(ValueError):
        estimate_quality(bad)

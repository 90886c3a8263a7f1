"""Hostile files through the API: refused with a ValueError naming the file, never restored to NaN (black)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hostile_files import decoders_disagree, truncated_scan, zero_step
from torch import nn

from dejpeg.api import restore, restore_array, restore_file
from dejpeg.codec import decode, encode
from dejpeg.jpeg import ijg_qtables


@pytest.fixture
def small_jpeg(natural_image) -> bytes:
    return encode(natural_image(48, 64), quality=50)


def test_zero_step_file_is_refused_naming_it(small_jpeg, tmp_path) -> None:
    path = tmp_path / "zero.jpg"
    path.write_bytes(zero_step(small_jpeg))
    message = r"quantization table 0 has a zero step \(JPEG requires 1-255\)$"
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {message}"):
        restore(path)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {message}"):
        restore(path, consistency=False)
    with pytest.raises(ValueError, match=f"^{message}"):  # bytes have no name
        restore(path.read_bytes())
    out = tmp_path / "out.png"
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: {message}"):
        restore_file(path, out)
    assert not out.exists()


def test_restore_array_refuses_zero_or_non_finite_steps(small_jpeg) -> None:
    pixels = decode(small_jpeg)
    for bad in (0, np.nan):
        tables = ijg_qtables(50).astype(np.float64)
        tables[1, 3, 4] = bad
        with pytest.raises(ValueError, match="quantization steps must be finite and 1 or more"):
            restore_array(pixels, tables)
        with pytest.raises(ValueError, match="quantization steps"):
            restore(pixels, qtables=tables)


class _NaNModel(nn.Module):
    def forward(self, image: torch.Tensor, qtables: torch.Tensor) -> torch.Tensor:
        return image * float("nan")


def test_a_non_finite_restoration_is_an_error_not_black(small_jpeg) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        restore(small_jpeg, _NaNModel(), precision="fp32")


def test_pixel_limit_names_the_file_and_the_limit(small_jpeg, tmp_path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(small_jpeg)
    named = re.escape(str(path))
    with pytest.raises(ValueError, match=f"^{named}: image of 64x48 = 3072 pixels is over the limit of 3000 "):
        restore(path, max_pixels=3000)
    out = tmp_path / "out.png"
    with pytest.raises(ValueError, match="over the limit of 3000"):
        restore_file(path, out, max_pixels=3000)
    assert not out.exists()
    assert restore(path, max_pixels=3072).shape == (48, 64, 3)


def test_the_step_is_skipped_with_a_warning_when_the_decoders_disagree(natural_image, tmp_path) -> None:
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(decoders_disagree(encode(natural_image(48, 64), quality=50)))
    named = re.escape(str(path))
    message = f"^{named}: restoring without the DCT consistency step: "
    message += "(libjpeg and Pillow decode this file differently|coefficients out of the range of 8-bit images)"
    with pytest.warns(UserWarning) as caught:
        restored = restore(path)
    assert [re.match(message, str(w.message)) is not None for w in caught] == [False, True]  # corrupt data, then this
    np.testing.assert_array_equal(restored, restore(path, consistency=False))


def test_corrupt_data_is_warned_of_or_refused_when_strict(small_jpeg, tmp_path) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(truncated_scan(small_jpeg))
    named = re.escape(str(path))
    with pytest.warns(UserWarning, match=f"^{named}: Corrupt JPEG data: premature end of data segment"):
        assert restore(path).shape == (48, 64, 3)
    for consistency in (True, False):
        with pytest.raises(ValueError, match=f"^{named}: refused \\(strict\\): Corrupt JPEG data"):
            restore(path, consistency=consistency, strict=True)
    with pytest.raises(ValueError, match="refused"):
        restore_file(path, tmp_path / "out.png", strict=True)
    assert not (tmp_path / "out.png").exists()
    assert restore(small_jpeg, strict=True).shape == (48, 64, 3)

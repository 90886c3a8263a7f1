import os
import stat

import numpy as np
import pytest
from PIL import Image

from dejpeg.imageio import atomic_write_bytes, list_images, save_image


def test_save_image_is_lossless_and_leaves_no_temporary(tmp_path, natural_image):
    image = natural_image(20, 30)
    for suffix in (".png", ".bmp", ".tif", ".webp"):
        path = tmp_path / f"x{suffix}"
        save_image(image, path)
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bmp", "x.png", "x.tif", "x.webp"]


def test_save_image_refuses_lossy_or_unknown_formats(tmp_path, natural_image):
    with pytest.raises(ValueError, match="unsupported output format"):
        save_image(natural_image(8, 8), tmp_path / "x.jpg")


def test_atomic_write_has_normal_permissions(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write_bytes(b"abc", path)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert path.read_bytes() == b"abc"


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        list_images(tmp_path)


def test_png_compress_level_changes_size_not_pixels(tmp_path, natural_image):
    image = natural_image(64, 64)
    sizes = {}
    for level in (0, 9):
        path = tmp_path / f"x{level}.png"
        save_image(image, path, png_compress_level=level)
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), image)
        sizes[level] = path.stat().st_size
    assert sizes[9] < 0.8 * sizes[0]  # level 0 stores the rows uncompressed
    with pytest.raises(ValueError, match="0..9"):
        save_image(image, tmp_path / "bad.png", png_compress_level=10)

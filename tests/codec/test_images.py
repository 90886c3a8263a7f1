import io
import os
import stat
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from dejpeg.api import restore_file
from dejpeg.codec.images import Encoding, adler32_combine, encode_png, save_image
from dejpeg.files import atomic_write_bytes, list_images


def test_save_image_is_lossless_and_leaves_no_temporary(tmp_path, natural_image):
    image = natural_image(20, 30)
    for suffix in (".png", ".bmp", ".tif", ".webp"):
        path = tmp_path / f"x{suffix}"
        save_image(image, path)
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bmp", "x.png", "x.tif", "x.webp"]


def test_save_image_refuses_unknown_formats(tmp_path, natural_image):
    with pytest.raises(ValueError, match="unsupported output format"):
        save_image(natural_image(8, 8), tmp_path / "x.gif")


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
        save_image(image, path, encoding=Encoding(png_compress_level=level))
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), image)
        sizes[level] = path.stat().st_size
    assert sizes[9] < 0.8 * sizes[0]  # level 0 stores the rows uncompressed
    with pytest.raises(ValueError, match="0..9"):
        save_image(image, tmp_path / "bad.png", encoding=Encoding(png_compress_level=10))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (23, 17), (1, 5, 3), (7, 1, 3), (31, 45, 3)])
def test_encode_png_round_trips_through_pillow(shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape, dtype=np.uint8)  # noise: every byte difference wraps somewhere
    with Image.open(io.BytesIO(encode_png(image))) as decoded:
        assert decoded.mode == ("L" if len(shape) == 2 else "RGB")
        np.testing.assert_array_equal(np.asarray(decoded), image)


def test_encode_png_compresses_photos_like_pillow(natural_image):
    image = natural_image(96, 128)
    ours = len(encode_png(image, level=3))
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=3)
    assert ours < 1.1 * len(buf.getvalue())  # one filter, not Pillow's per-row choice, costs little
    raw = image.size + image.shape[0]  # the pixels and one filter byte per row
    assert len(encode_png(image, level=0)) > raw > ours / 0.8  # level 0 stores; 3 compresses


def test_encode_png_keeps_exif_and_icc_profile():
    exif = Image.Exif()
    exif[0x0112] = 6
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    for raw in (exif.tobytes(), b"Exif\0\0" + exif.tobytes()):  # as Pillow gives it, and with JPEG's header
        with Image.open(io.BytesIO(encode_png(image, exif=raw, icc_profile=icc))) as decoded:
            assert decoded.getexif()[0x0112] == 6
            assert decoded.info["icc_profile"] == icc


@pytest.mark.parametrize(
    "shape,dtype",
    [((4, 4, 4), np.uint8), ((4, 4, 2), np.uint8), ((4,), np.uint8), ((4, 4), np.int16), ((0, 4, 3), np.uint8)],
)
def test_encode_png_refuses_what_it_does_not_write(shape, dtype):
    with pytest.raises(ValueError, match="expected"):
        encode_png(np.zeros(shape, dtype=dtype))


def test_encode_png_in_parallel_bands_is_one_valid_stream(monkeypatch, natural_image):
    image = natural_image(700, 600)  # 1.26 MB of rows: 4 bands of at least 256 KiB when 8 CPUs are there
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    single = encode_png(image)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    banded = encode_png(image)
    assert banded != single  # it did split
    with Image.open(io.BytesIO(banded)) as decoded:
        np.testing.assert_array_equal(np.asarray(decoded), image)
    assert len(banded) < 1.005 * len(single)  # each band's window keeps the compression
    wide = natural_image(3, 200_000)  # 1.8 MB in only 3 rows with 8 CPUs: bands of single rows still decode
    with Image.open(io.BytesIO(encode_png(wide))) as decoded:
        np.testing.assert_array_equal(np.asarray(decoded), wide)


def test_adler32_combine_matches_the_checksum_of_the_joined_bytes():
    rng = np.random.default_rng(0)
    for first_length, second_length in [(0, 0), (1, 0), (0, 5), (7, 300_000), (200_000, 3)]:
        first, second = rng.bytes(first_length), rng.bytes(second_length)
        combined = adler32_combine(zlib.adler32(first), zlib.adler32(second), second_length)
        assert combined == zlib.adler32(first + second)


def test_a_profile_for_another_colour_space_is_dropped(tmp_path):
    """A CMYK JPEG's profile copied into the RGB restoration made a PNG that libpng rejects."""
    rgb_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cmyk_profile = rgb_profile[:16] + b"CMYK" + rgb_profile[20:]
    image = np.zeros((8, 8, 3), np.uint8)
    for suffix in (".png", ".tif", ".webp"):
        save_image(image, tmp_path / f"cmyk{suffix}", icc_profile=cmyk_profile)
        save_image(image, tmp_path / f"rgb{suffix}", icc_profile=rgb_profile)
        with Image.open(tmp_path / f"cmyk{suffix}") as cmyk, Image.open(tmp_path / f"rgb{suffix}") as rgb:
            assert "icc_profile" not in cmyk.info and rgb.info["icc_profile"] == rgb_profile
    save_image(image[..., 0], tmp_path / "gray.png", icc_profile=rgb_profile)  # an RGB profile on gray pixels
    save_image(image, tmp_path / "length.png", icc_profile=b"\0\0\0\1" + rgb_profile[4:])  # a lying length
    save_image(image[..., 0], tmp_path / "gray.webp", icc_profile=rgb_profile[:16] + b"GRAY" + rgb_profile[20:])
    for name in ("gray.png", "length.png", "gray.webp"):  # WebP stores gray as RGB: a gray profile does not fit
        with Image.open(tmp_path / name) as bad:
            assert "icc_profile" not in bad.info


def test_bmp_is_turned_as_the_exif_orientation_says(tmp_path):
    """BMP keeps no EXIF: a photo taken sideways (orientation 6) was written sideways."""
    image = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    exif = Image.Exif()
    exif[0x0112] = 6
    save_image(image, tmp_path / "turned.bmp", exif=b"Exif\0\0" + exif.tobytes())
    save_image(image, tmp_path / "kept.png", exif=exif.tobytes())
    with Image.open(tmp_path / "kept.png") as png:
        upright = np.asarray(ImageOps.exif_transpose(png))
    with Image.open(tmp_path / "turned.bmp") as bmp:
        np.testing.assert_array_equal(np.asarray(bmp), upright)
    save_image(image, tmp_path / "bad.bmp", exif=b"Exif\0\0MM\0*garbage")  # unreadable EXIF: pixels as they are
    with Image.open(tmp_path / "bad.bmp") as bmp:
        np.testing.assert_array_equal(np.asarray(bmp), image)


def test_tiff_with_unreadable_exif_is_written_without_it(tmp_path):
    """Pillow's TIFF writer parses the EXIF: a fuzzed file's made ``dejpeg restore -o x.tif`` fail with
    "SyntaxError: not a TIFF file" while PNG and the API restored it."""
    image = np.zeros((8, 8, 3), np.uint8)
    save_image(image, tmp_path / "out.tif", exif=b"Exif\0\0MM\0MM\0*\0" + bytes(20))
    with Image.open(tmp_path / "out.tif") as tif:
        np.testing.assert_array_equal(np.asarray(tif), image)


def test_webp_over_its_size_limit_is_refused_in_words(tmp_path):
    with pytest.raises(ValueError, match="WebP holds at most 16383 pixels a side, this image is 16384x1: use PNG"):
        save_image(np.zeros((1, 16384), np.uint8), tmp_path / "wide.webp")
    assert not list(tmp_path.iterdir())


def test_tiff_output_drops_exif_its_writer_cannot_pack(tmp_path):
    """EXIF that parses but holds a value Pillow's TIFF writer cannot re-pack (found by fuzzing) costs the
    metadata, not the file: the TIFF holds the same pixels as the PNG."""
    source = Path(__file__).parents[1] / "regressions" / "tiff-exif-unpackable.jpg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the file's corrupt data is warned of; not what this test is about
        for suffix in (".tif", ".png"):
            restore_file(source, tmp_path / f"out{suffix}", precision="fp32")
    tiff, png = (np.asarray(Image.open(tmp_path / f"out{suffix}")) for suffix in (".tif", ".png"))
    assert np.array_equal(tiff, png)

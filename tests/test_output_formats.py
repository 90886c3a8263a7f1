"""The outputs people ask for: JPEG, WebP and AVIF at a quality, 16-bit PNG and TIFF of the network's continuous
output, name templates that put restorations beside their originals, and a folder run that resumes by existence."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

from dejpeg.api import restore, restore_file
from dejpeg.batch import DONE, EARLIER_OUTPUT, EXISTS, KEPT, MANIFEST_NAME
from dejpeg.cli.__main__ import main
from dejpeg.codec import encode, read_qtables
from dejpeg.codec.images import Encoding, avif_available, encode_image, encode_tiff16
from dejpeg.jpeg import estimate_quality

needs_avif = pytest.mark.skipif(not avif_available(), reason="this Pillow cannot write AVIF")


def _read_png16(data: bytes) -> np.ndarray:
    """A reference reader for 16-bit PNG, which Pillow reads only for gray (it cuts RGB to 8 bits): the chunks,
    stdlib zlib, and each of the five filter types undone as the PNG specification writes them."""
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and depth == 16
    channels = {0: 1, 2: 3}[colour]
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    bpp, stride = 2 * channels, 2 * channels * width
    rows, above = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = above[i], above[i - bpp] if i >= bpp else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF
        rows.append(bytes(line))
        above = line
    image = np.frombuffer(b"".join(rows), dtype=">u2").reshape(height, width, channels).astype(np.uint16)
    return image[..., 0] if channels == 1 else image


@pytest.fixture
def metadata() -> tuple[bytes, bytes]:
    """EXIF (orientation 6, a maker) with JPEG's header, and an sRGB profile."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Maker"
    return b"Exif\0\0" + exif.tobytes(), ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("shape", [(9, 13), (9, 13, 3)])
def test_sixteen_bit_png_and_tiff_hold_every_sample(shape, metadata):
    tifffile = pytest.importorskip("tifffile")
    image = np.random.default_rng(1).integers(0, 65536, shape, dtype=np.uint16)  # low bytes matter: noise in them
    exif, icc = metadata
    png = encode_image(image, ".png", exif, icc, Encoding(bit_depth=16))
    np.testing.assert_array_equal(_read_png16(png), image)
    tiff = encode_image(image, ".tiff", exif, icc, Encoding(bit_depth=16))
    with tifffile.TiffFile(io.BytesIO(tiff)) as read:
        np.testing.assert_array_equal(read.pages[0].asarray(), image)
        assert read.pages[0].tags["BitsPerSample"].value in (16, (16, 16, 16))
    for data in (png, tiff):  # metadata as the 8-bit files carry it
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.getexif().get(0x010F) == "Maker"
            assert decoded.info.get("icc_profile") == (icc if len(shape) == 3 else None)  # an RGB profile: RGB only


def test_tiff16_strips_cover_the_image(natural_image):
    tifffile = pytest.importorskip("tifffile")
    image = natural_image(37, 50).astype(np.uint16) * 257
    data = encode_tiff16(image, strip_bytes=1000)  # 300 bytes a row: 3 rows a strip, the last one shorter
    with tifffile.TiffFile(io.BytesIO(data)) as read:
        assert len(read.pages[0].dataoffsets) == 13
        np.testing.assert_array_equal(read.pages[0].asarray(), image)


def test_lossy_outputs_keep_quality_subsampling_and_metadata(natural_image, metadata):
    image = natural_image(48, 64)
    exif, icc = metadata
    for quality, subsampling, sampling in ((95, None, 0), (60, "420", 2)):  # Pillow's codes: 0 is 4:4:4, 2 is 4:2:0
        data = encode_image(image, ".jpg", exif, icc, Encoding(quality, subsampling))
        assert estimate_quality(read_qtables(data)).quality == quality
        with Image.open(io.BytesIO(data)) as decoded:
            assert JpegImagePlugin.get_sampling(decoded) == sampling
            assert decoded.getexif()[0x0112] == 6 and decoded.info["icc_profile"] == icc
    lossless = encode_image(image, ".webp", exif, icc)
    lossy = encode_image(image, ".webp", exif, icc, Encoding(quality=80))
    assert len(lossy) < len(lossless)
    for data, exact in ((lossless, True), (lossy, False)):
        with Image.open(io.BytesIO(data)) as decoded:
            assert np.array_equal(np.asarray(decoded.convert("RGB")), image) == exact
            assert decoded.getexif()[0x0112] == 6 and decoded.info["icc_profile"] == icc


@needs_avif
def test_avif_output_keeps_orientation_and_profile(natural_image, metadata):
    image = natural_image(48, 64)
    exif, icc = metadata
    sizes = {}
    for quality in (50, 90):
        data = encode_image(image, ".avif", exif, icc, Encoding(quality=quality))
        sizes[quality] = len(data)
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.getexif()[0x0112] == 6 and decoded.info["icc_profile"] == icc  # AVIF's irot, read back
            error = np.abs(np.asarray(decoded.convert("RGB"), np.float64) - image).mean()
            assert 0 < error < 6
    assert sizes[50] < sizes[90]


@pytest.mark.parametrize(
    ("suffix", "encoding", "message"),
    [
        (".jpg", Encoding(bit_depth=16), "JPEG cannot hold 16-bit samples"),
        (".webp", Encoding(bit_depth=16), "WEBP cannot hold 16-bit samples"),
        (".bmp", Encoding(bit_depth=16), "BMP cannot hold 16-bit samples"),
        (".png", Encoding(quality=90), "PNG is lossless: a quality applies to JPEG, WebP and AVIF only"),
        (".webp", Encoding(quality=90, subsampling="444"), r"not of WEBP \(lossy WebP is always 4:2:0\)"),
        (".jpg", Encoding(quality=0), "quality must be 1..100"),
        (".jpg", Encoding(subsampling="422"), "subsampling must be one of"),
        (".gif", Encoding(), "unsupported output format"),
    ],
)
def test_options_a_format_cannot_take_are_refused(suffix, encoding, message):
    with pytest.raises(ValueError, match=message):
        encoding.format_for(suffix)


def test_avif_without_pillow_support_is_a_clear_error(monkeypatch, jpeg_file, tmp_path):
    monkeypatch.setattr("dejpeg.codec.images.avif_available", lambda: False)
    with pytest.raises(ValueError, match="this Pillow cannot write AVIF"):
        Encoding().format_for(".avif")
    assert main(["restore", str(jpeg_file), "-o", str(tmp_path / "x.avif"), "--quiet"]) == 2


@pytest.fixture
def jpeg_file(tmp_path, natural_image) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(natural_image(64, 64, seed=3), quality=20))
    return path


def test_sixteen_bits_round_to_the_eight_bit_output_and_hold_more_levels(jpeg_file):
    """Both come from the same float restoration x in [0, 1]: 8 bits store round(255 x), 16 bits u = round(65535 x)
    = round(257 y) with y = 255 x. For y in (k - 0.5, k + 0.5), 257 y lies in (257 k - 128.5, 257 k + 128.5), so u
    is within 128 of 257 k and round(u / 257) = k: the rounding boundaries coincide (257 is odd), and rounding the
    16-bit output gives the 8-bit one exactly. Only float32 arithmetic (255 x and 65535 x are rounded separately)
    can split a sample lying within about 3e-5 of a half level, by one level, with u then 257 k + 128 or + 129:
    a few in 10^5 samples. A scale other than 257, or another pipeline, fails the test."""
    eight = restore(jpeg_file, precision="fp32")
    sixteen = restore(jpeg_file, precision="fp32", bit_depth=16)
    assert (eight.dtype, sixteen.dtype, sixteen.shape) == (np.uint8, np.uint16, eight.shape)
    rounded = np.round(sixteen / 257)
    apart = rounded != eight
    assert np.abs(rounded - eight).max() <= 1
    assert np.isin(sixteen[apart] % 257, (128, 129)).all()
    assert apart.sum() <= 5  # of 12,288 samples: at most about 0.7 expected
    assert len(np.unique(sixteen)) > 256  # the network's continuous output: more levels than 8 bits have
    assert np.mean(sixteen % 257 != 0) > 0.9  # and not 8-bit values scaled up


def test_restore_file_writes_each_format_and_refuses_before_restoring(jpeg_file, tmp_path, monkeypatch):
    for name, options in (("a.jpg", {"quality": 90}), ("a.webp", {"quality": 90}), ("a.png", {"bit_depth": 16})):
        restore_file(jpeg_file, tmp_path / name, **options)
        with Image.open(tmp_path / name) as decoded:
            assert decoded.size == (64, 64)
    assert _read_png16((tmp_path / "a.png").read_bytes()).dtype == np.uint16
    monkeypatch.setattr("dejpeg.api._restore_jpeg", lambda *args, **kwargs: pytest.fail("restored anyway"))
    with pytest.raises(ValueError, match="JPEG cannot hold 16-bit samples"):
        restore_file(jpeg_file, tmp_path / "b.jpg", bit_depth=16)
    with pytest.raises(ValueError, match="refusing to overwrite the input"):
        restore_file(jpeg_file, jpeg_file, quality=90)


def test_cli_writes_jpeg_444_at_the_quality_asked(jpeg_file, tmp_path):
    out = tmp_path / "out"
    assert main(["restore", str(jpeg_file.parent), "-o", f"{out}/", "--format", "jpeg", "--quality", "93"]) == 0
    with Image.open(out / "photo.jpg") as written:
        assert JpegImagePlugin.get_sampling(written) == 0
    assert estimate_quality(read_qtables(out / "photo.jpg")).quality == 93
    row = json.loads((out / MANIFEST_NAME).read_text())
    assert row["settings"] == {"quality": 93, "subsampling": "444"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--format", "jpeg", "--bit-depth", "16"], "JPEG cannot hold 16-bit samples"),
        (["--quality", "90"], "PNG is lossless"),
        (["--suffix", "restored"], "a name template holds {stem} once"),
        (["--suffix", "{stem}/x"], "no folder"),
        (["--suffix", "{name}"], "a name template holds {stem} once"),
        (["--overwrite", "--skip-existing"], "not allowed with argument"),
        (["--format", "jpeg"], "holds the inputs, and {stem}.jpg would name each restoration as its input"),
    ],
)
def test_cli_refuses_bad_output_options_before_any_work(jpeg_file, arguments, message, capsys):
    before = jpeg_file.read_bytes()
    assert main(["restore", str(jpeg_file.parent), "-o", str(jpeg_file.parent), "--quiet", *arguments]) == 2
    assert message in capsys.readouterr().err
    assert jpeg_file.read_bytes() == before and not (jpeg_file.parent / MANIFEST_NAME).exists()


def test_cli_output_file_suffix_and_format_must_agree(jpeg_file, tmp_path, capsys):
    assert main(["restore", str(jpeg_file), "-o", str(tmp_path / "x.png"), "--format", "jpeg", "--quiet"]) == 2
    assert "--format jpeg asks for another format" in capsys.readouterr().err
    assert main(["restore", str(jpeg_file), "-o", str(tmp_path / "x.jpeg"), "--quality", "90", "--quiet"]) == 0
    assert Image.open(tmp_path / "x.jpeg").format == "JPEG"
    assert main(["restore", str(jpeg_file), "-o", str(tmp_path / "y.png"), "--suffix", "{stem}_r", "--quiet"]) == 2


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / MANIFEST_NAME).read_text().splitlines()]


def _beside(folder: Path, *options: str) -> list[dict]:
    """Restore ``folder`` into itself as ``{stem}_restored.jpg``; the manifest rows of this run."""
    before = len(_rows(folder)) if (folder / MANIFEST_NAME).exists() else 0
    assert main(["restore", str(folder), "-o", str(folder), "--quiet", "--format", "jpeg", *options]) == 0
    return _rows(folder)[before:]


def test_restorations_beside_their_originals_are_not_restored_again(tmp_path, natural_image):
    folder = tmp_path / "photos"
    folder.mkdir()
    originals = {}
    for i in range(3):
        originals[f"p{i}.jpg"] = encode(natural_image(24, 32, seed=i), quality=25)
        (folder / f"p{i}.jpg").write_bytes(originals[f"p{i}.jpg"])
    first = _beside(folder, "--suffix", "{stem}_restored")
    assert [row["status"] for row in first] == ["restored"] * 3
    assert {p.name for p in folder.glob("*_restored.jpg")} == {f"p{i}_restored.jpg" for i in range(3)}
    second = _beside(folder, "--suffix", "{stem}_restored")  # the folder now holds six JPEGs
    reasons = {Path(row["input"]).name: row["reason"] for row in second}
    assert reasons == {
        **{f"p{i}.jpg": DONE for i in range(3)},
        **{f"p{i}_restored.jpg": EARLIER_OUTPUT for i in range(3)},
    }
    assert not list(folder.glob("*_restored_restored*"))
    assert all((folder / name).read_bytes() == data for name, data in originals.items())


def test_changed_settings_redo_outputs_unless_skip_existing(tmp_path, natural_image):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i in range(2):
        (folder / f"p{i}.jpg").write_bytes(encode(natural_image(24, 32, seed=i), quality=25))

    def run(*options: str) -> dict[str, str]:
        before = len(_rows(out)) if (out / MANIFEST_NAME).exists() else 0
        assert main(["restore", str(folder), "-o", str(out), "--quiet", *options]) == 0
        return {row["output"]: row.get("reason", row["status"]) for row in _rows(out)[before:]}

    assert run("--format", "jpeg", "--quality", "60") == {"p0.jpg": "restored", "p1.jpg": "restored"}
    assert run("--format", "jpeg", "--quality", "60") == {"p0.jpg": DONE, "p1.jpg": DONE}
    assert run("--format", "jpeg") == {"p0.jpg": "restored", "p1.jpg": "restored"}  # the default 90 is not 60
    assert estimate_quality(read_qtables(out / "p0.jpg")).quality == 90
    assert run("--format", "jpeg", "--quality", "90", "--subsampling", "444") == {"p0.jpg": DONE, "p1.jpg": DONE}
    kept = (out / "p0.jpg").read_bytes()
    assert run("--format", "jpeg", "--quality", "50", "--skip-existing") == {"p0.jpg": KEPT, "p1.jpg": KEPT}
    assert (out / "p0.jpg").read_bytes() == kept
    assert run() == {"p0.png": "restored", "p1.png": "restored"}  # PNG names other files
    assert run("--bit-depth", "16") == {"p0.png": "restored", "p1.png": "restored"}
    assert _read_png16((out / "p0.png").read_bytes()).dtype == np.uint16
    (out / MANIFEST_NAME).unlink()  # outputs the manifest no longer knows: someone's files, kept either way
    assert run("--bit-depth", "16") == {"p0.png": EXISTS, "p1.png": EXISTS}
    assert run("--bit-depth", "16", "--skip-existing") == {"p0.png": KEPT, "p1.png": KEPT}


def test_changed_model_strength_or_consistency_redo_outputs(tmp_path, natural_image):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "p0.jpg").write_bytes(encode(natural_image(24, 32, seed=0), quality=25))

    def run(*options: str) -> str:
        before = len(_rows(out)) if (out / MANIFEST_NAME).exists() else 0
        assert main(["restore", str(folder), "-o", str(out), "--quiet", *options]) == 0
        (row,) = _rows(out)[before:]
        return row.get("reason", row["status"])

    assert run() == "restored"
    assert run() == DONE
    assert run("--strength", "0.3") == "restored"
    assert run("--strength", "0.3") == DONE
    assert run("--strength", "0.3", "--no-consistency") == "restored"
    assert run("--model", "spp") == "restored"
    assert run("--model", "spp") == DONE
    assert run() == "restored"  # back to the default model, default strength and consistency
    assert run() == DONE

"""Hostile and corrupt JPEG files, made here from valid ones by editing bytes: each is refused with a clear
one-line ValueError before anything is decoded or allocated from what it declares."""

from __future__ import annotations

import io
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

import jpeglib
import numpy as np
import pytest
from hostile_files import decoders_disagree, truncated_scan, with_size, zero_step
from PIL import Image

from dejpeg.codec import decode, decode_luma, encode, read_coefficients, read_jpeg, read_qtables
from dejpeg.jpeg import luma_matches
from dejpeg.jpeg.header import MAX_PIXELS_PER_BYTE, check_header, parse_header

READERS = (read_jpeg, decode, read_qtables, read_coefficients)


@pytest.fixture
def small_jpeg(natural_image) -> bytes:
    return encode(natural_image(48, 64), quality=50)


@pytest.mark.parametrize("index", [0, 10, 63])
def test_zero_quantization_step_is_refused_by_every_reader(small_jpeg, index) -> None:
    bad = zero_step(small_jpeg, index)
    for reader in READERS:
        with pytest.raises(ValueError, match=r"^quantization table 0 has a zero step \(JPEG requires 1-255\)$"):
            reader(bad)


def test_sixteen_bit_tables_are_checked_too() -> None:
    def dqt16(steps: list[int]) -> bytes:
        body = b"\x11" + b"".join(s.to_bytes(2, "big") for s in steps)  # 16-bit table 1
        return b"\xff\xdb" + (2 + len(body)).to_bytes(2, "big") + body

    sof = b"\xff\xc0\x00\x0b\x08\x00\x10\x00\x10\x01\x01\x11\x01"
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    good = b"\xff\xd8" + dqt16([300] * 64) + sof + sos
    assert parse_header(good).width == 16
    with pytest.raises(ValueError, match=r"quantization table 1 has a zero step \(JPEG requires 1-65535\)"):
        parse_header(b"\xff\xd8" + dqt16([300] * 63 + [0]) + sof + sos)


def test_header_of_a_valid_file(small_jpeg) -> None:
    header = check_header(small_jpeg)
    assert (header.width, header.height, header.components, header.sof) == (64, 48, 3, 0xC0)
    # Fill bytes before a marker, and stray bytes between segments (libjpeg skips them with a warning).
    dqt = small_jpeg.index(b"\xff\xdb")
    assert parse_header(small_jpeg[:dqt] + b"\xff\xff\xff" + small_jpeg[dqt:]) == header
    assert parse_header(small_jpeg[:dqt] + b"\x12\x34" + small_jpeg[dqt:]) == header


@pytest.mark.parametrize("cut", [3, 25, 100])
def test_truncated_headers(small_jpeg, cut) -> None:
    with pytest.raises(ValueError, match="truncated"):
        parse_header(small_jpeg[:cut])


def test_image_data_before_a_frame_is_refused(small_jpeg) -> None:
    sof = small_jpeg.index(b"\xff\xc0")
    sof_end = sof + 2 + int.from_bytes(small_jpeg[sof + 2 : sof + 4], "big")
    with pytest.raises(ValueError, match="before a frame header"):
        parse_header(small_jpeg[:sof] + small_jpeg[sof_end:])


def test_pixel_limit_is_checked_before_libjpeg_allocates(small_jpeg, monkeypatch) -> None:
    def never(*args, **kwargs):
        raise AssertionError("jpeglib was called")

    monkeypatch.setattr(jpeglib, "read_dct", never)
    with pytest.raises(ValueError, match=r"^image of 64x48 = 3072 pixels is over the limit of 3000 "):
        read_coefficients(small_jpeg, max_pixels=3000)
    with pytest.raises(ValueError, match="over the limit of 3000"):
        read_jpeg(small_jpeg, max_pixels=3000)
    huge = with_size(small_jpeg, 65535, 65535)  # 4.3 Gpx: over Pillow's default limit too
    for reader in (read_jpeg, decode, read_coefficients):
        with pytest.raises(ValueError, match="over the limit of 89478485"):
            reader(huge)


def test_more_pixels_than_the_bytes_can_code_are_refused(small_jpeg, monkeypatch) -> None:
    monkeypatch.setattr(jpeglib, "read_dct", lambda *a, **k: pytest.fail("jpeglib was called"))
    bomb = with_size(small_jpeg, 6000, 6000)  # 36 Mpx, under the pixel limit, in ~2 kB
    assert 6000 * 6000 > MAX_PIXELS_PER_BYTE * len(bomb)
    for reader in (read_jpeg, read_coefficients):
        with pytest.raises(ValueError, match=f"over {MAX_PIXELS_PER_BYTE} pixels per byte"):
            reader(bomb, max_pixels=None)
    with pytest.raises(ValueError, match="empty image"):
        read_jpeg(with_size(small_jpeg, 0, 64))


def test_the_most_compressible_real_jpegs_pass() -> None:
    # Flat grey 4000x3000 at quality 1: 85 pixels per byte with the standard Huffman tables, 255 optimized.
    flat = Image.fromarray(np.full((3000, 4000), 128, np.uint8))
    for optimize in (False, True):
        buffer = io.BytesIO()
        flat.save(buffer, format="JPEG", quality=1, optimize=optimize)
        data = buffer.getvalue()
        assert 4000 * 3000 / len(data) < MAX_PIXELS_PER_BYTE / 4
        assert check_header(data).width == 4000


def test_pillows_decompression_bomb_error_is_a_value_error(small_jpeg, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 3072 pixels: over twice Pillow's limit
    with pytest.raises(ValueError, match="not a readable JPEG file: .*decompression bomb"):
        read_jpeg(small_jpeg, max_pixels=None)


def test_error_messages_hold_no_object_reprs(small_jpeg) -> None:
    # libjpeg skips stray bytes after SOI; Pillow does not identify the file, and its message is a buffer's repr.
    stray = small_jpeg[:2] + b"\x00\x00" + small_jpeg[2:]
    with pytest.raises(ValueError) as caught:
        read_jpeg(stray)
    assert str(caught.value) == "not a readable JPEG file"
    lossless = small_jpeg.replace(b"\xff\xc0", b"\xff\xc3", 1)  # SOF3, which libjpeg does not decode
    for reader in READERS:
        try:
            reader(lossless)
        except ValueError as error:
            assert "<" not in str(error) and "dejpeg-" not in str(error), str(error)


def test_temporary_folders_are_removed_when_libjpeg_fails(small_jpeg, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ValueError, match="could not read JPEG coefficients"):
        read_coefficients(small_jpeg.replace(b"\xff\xc0", b"\xff\xc3", 1))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("subsampling", ["420", "444"])
@pytest.mark.parametrize("quality", [5, 95, 100])
def test_valid_files_decode_to_the_same_luma_in_both_decoders(natural_image, subsampling, quality) -> None:
    rng = np.random.default_rng(quality)
    saturated = (rng.random((44, 61, 3)) > 0.5).astype(np.uint8) * 255  # colours far out of gamut when coded
    for image in (natural_image(37, 53), natural_image(40, 48, channels=1), saturated):
        data = encode(image, quality=quality, subsampling=subsampling)
        assert luma_matches(read_coefficients(data), decode_luma(data))


def test_a_corrupt_file_the_decoders_recover_differently(natural_image) -> None:
    bad = decoders_disagree(encode(natural_image(48, 64), quality=50))
    assert not luma_matches(read_coefficients(bad), decode_luma(bad))


def test_libjpeg_warnings_are_kept_with_the_coefficients(small_jpeg, capfd) -> None:
    assert read_coefficients(small_jpeg).corrupt == ()
    corrupt = read_coefficients(truncated_scan(small_jpeg)).corrupt
    assert corrupt and corrupt[0] == "Corrupt JPEG data: premature end of data segment"
    print("after", file=sys.stderr)  # the process's stderr is back
    assert capfd.readouterr().err == "after\n"


def test_concurrent_reads_keep_their_warnings_and_the_process_stderr(small_jpeg, capfd) -> None:
    """A batch reads coefficients in several threads while the main one prints: fd 2 is redirected by one read at
    a time (interleaved, the last restore pointed it at a deleted file and the run's summary vanished), and what
    the other threads printed meanwhile reaches stderr instead of counting as corrupt data."""
    corrupt = truncated_scan(small_jpeg)
    alone = read_coefficients(corrupt).corrupt
    assert alone and all(line.startswith("Corrupt JPEG data") for line in alone)
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            print("progress", file=sys.stderr, flush=True)

    talker = threading.Thread(target=chatter)
    talker.start()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(read_coefficients, [corrupt, small_jpeg] * 8))
    stop.set()
    talker.join()
    assert [r.corrupt for r in results] == [alone, ()] * 8
    print("after", file=sys.stderr)
    err = capfd.readouterr().err
    assert err.endswith("after\n") and set(err.splitlines()) == {"progress", "after"}

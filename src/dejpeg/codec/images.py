"""Image files in and out: decoding any format to uint8, writing restorations losslessly with their metadata."""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from zlib_ng import zlib_ng

from dejpeg.files import atomic_write_bytes

#: Formats written losslessly by output suffix; JPEG output is refused (it would re-add artifacts).
LOSSLESS_SUFFIXES = {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
#: zlib level of PNG output (see :func:`encode_png`). On restored photos level 3 writes files as small as Pillow's
#: level 3 did (0.2 % smaller) in 2.3x less time on 2 cores; 6 is 3 % smaller for 1.7x the time.
PNG_COMPRESS_LEVEL = 3
#: libwebp's largest width and height.
WEBP_MAX_SIDE = 16383
_PNG_COLOUR_TYPES = {1: 0, 3: 2}  # channels -> PNG colour type: grayscale, truecolour


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib_ng.crc32(kind + data))


_DEFLATE_WINDOW = 32768  # bytes a deflate stream may refer back to
_ADLER_BASE = 65521


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """Adler-32 of two byte strings joined, from their checksums (zlib's ``adler32_combine``): lets threads
    checksum their own parts of one stream."""
    low = (first & 0xFFFF) + (second & 0xFFFF) - 1
    high = (first >> 16) + (second >> 16) + second_length * ((first & 0xFFFF) - 1)
    return (low % _ADLER_BASE) | (high % _ADLER_BASE) << 16


def _paeth_filter(rows: np.ndarray, bpp: int, above: np.ndarray | None) -> np.ndarray:
    """PNG filter type 4 (Paeth) of (h, n) uint8 ``rows`` below the row ``above`` (None: the image's top),
    as (h, 1 + n) uint8 with each row's filter-type byte. Vectorised: it predicts from the unfiltered bytes."""
    x = rows.astype(np.int16)
    up = np.empty_like(x)
    up[0] = 0 if above is None else above
    up[1:] = x[:-1]
    left, up_left = np.zeros_like(x), np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up_left[:, bpp:] = up[:, :-bpp]
    # Paeth's p = left + up - up_left; its distances to left, up and up_left:
    dist_left, dist_up = up - up_left, left - up_left
    dist_up_left = np.abs(dist_left + dist_up)
    np.abs(dist_left, out=dist_left)
    np.abs(dist_up, out=dist_up)
    prediction = np.where(dist_up <= dist_up_left, up, up_left)
    np.copyto(prediction, left, where=(dist_left <= dist_up) & (dist_left <= dist_up_left))
    out = np.empty((x.shape[0], 1 + x.shape[1]), dtype=np.uint8)
    out[:, 0] = 4
    out[:, 1:] = x - prediction  # the cast wraps modulo 256, as PNG's arithmetic does
    return out


def encode_png(
    image_u8: np.ndarray, level: int = PNG_COMPRESS_LEVEL, exif: bytes | None = None, icc_profile: bytes | None = None
) -> bytes:
    """(H, W) gray or (H, W, 3) RGB uint8 as PNG bytes (every row Paeth-filtered), using every CPU.

    Why not Pillow: it encodes in one thread, and on a 1 MP restore that took a fifth of the time. Here bands of
    rows are filtered and deflated (zlib-ng) in parallel threads, which release the GIL; each band is a raw
    deflate stream primed with the 32 KiB before it and sync-flushed, so that together they form one stream
    (pigz's method). Paeth alone, instead of Pillow's choice per row, costs nothing in size on restored photos
    (docs/notebook.md, "Faster restore: PNG writer, int8 input view, consistency step (2026-11-28)").
    ``exif`` (raw, or with JPEG's "Exif\\0\\0" header) and ``icc_profile`` go into eXIf and iCCP chunks, as
    Pillow writes them.
    """
    image_u8 = np.ascontiguousarray(image_u8)
    channels = 1 if image_u8.ndim == 2 else image_u8.shape[-1]
    if (
        image_u8.dtype != np.uint8
        or image_u8.ndim not in (2, 3)
        or channels not in _PNG_COLOUR_TYPES
        or image_u8.size == 0
    ):
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8 with H, W >= 1, got {image_u8.shape} {image_u8.dtype}")
    height, width = image_u8.shape[:2]
    rows = image_u8.reshape(height, width * channels)
    row_bytes = 1 + rows.shape[1]
    bands = max(1, min(os.cpu_count() or 1, height, height * row_bytes // (256 << 10)))
    bounds = [height * i // bands for i in range(bands + 1)]
    chunk_rows = max(1, (64 << 10) // row_bytes)  # filter a few rows at a time: the temporaries stay in cache
    window_rows = math.ceil(_DEFLATE_WINDOW / row_bytes)

    def filtered(start: int, end: int) -> np.ndarray:
        return _paeth_filter(rows[start:end], channels, rows[start - 1] if start else None).reshape(-1)

    def filter_and_deflate(band: int) -> tuple[bytes, int, int]:
        """The band's raw deflate stream, the Adler-32 and the length of its filtered bytes."""
        start, end = bounds[band], bounds[band + 1]
        window = {}  # the filtered bytes before the band, which its stream may refer back to
        if start:
            window["zdict"] = filtered(max(0, start - window_rows), start)[-_DEFLATE_WINDOW:]
        compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15, **window)
        streams, checksum = [], 1
        for chunk_start in range(start, end, chunk_rows):
            chunk = filtered(chunk_start, min(chunk_start + chunk_rows, end))
            checksum = zlib_ng.adler32(chunk, checksum)
            streams.append(compressor.compress(chunk))
        streams.append(compressor.flush(zlib_ng.Z_FINISH if band == bands - 1 else zlib_ng.Z_SYNC_FLUSH))
        return b"".join(streams), checksum, (end - start) * row_bytes

    with ThreadPoolExecutor(bands) as pool:
        parts = list(pool.map(filter_and_deflate, range(bands)))
    checksum = 1
    for _, part_checksum, length in parts:
        checksum = adler32_combine(checksum, part_checksum, length)
    idat = zlib_ng.compress(b"", level)[:2] + b"".join(stream for stream, _, _ in parts) + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    if icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib_ng.compress(icc_profile)))
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")))
    chunks += [_png_chunk(b"IDAT", idat), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def load_rgb_u8(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB of any image file Pillow reads."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def load_gray_u8(path: str | os.PathLike) -> np.ndarray:
    """(H, W) uint8 JFIF luma (full-range BT.601, as a gray JPEG holds) of any image file Pillow reads."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L")).copy()


#: ICC data colour spaces (profile header bytes 16-20) that describe gray and RGB pixels.
_ICC_SPACES = {True: b"GRAY", False: b"RGB "}
#: EXIF orientation (1-8) -> the transposes that show the image upright (Pillow's ``ImageOps.exif_transpose``).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def profile_fits(icc_profile: bytes | None, gray: bool) -> bool:
    """Whether an ICC profile is one for these pixels, as libpng checks it: a header declaring the profile's own
    length, and their colour space."""
    if not icc_profile or len(icc_profile) < 128 or int.from_bytes(icc_profile[:4], "big") != len(icc_profile):
        return False
    return icc_profile[16:20] == _ICC_SPACES[gray]


def _exif_tags(exif: bytes) -> Image.Exif | None:
    """The EXIF tags, or None where Pillow cannot read them (it raises all sorts on corrupt EXIF)."""
    tags = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of corrupt EXIF without naming the file
            tags.load(exif.removeprefix(b"Exif\0\0"))
            tags.get(0x0112)
    except Exception:  # noqa: BLE001 - any failure means: unreadable
        return None
    return tags


def apply_orientation(image_u8: np.ndarray, exif: bytes) -> np.ndarray:
    """The pixels turned as the EXIF orientation tag says (unchanged where it is absent, 1, or unreadable)."""
    tags = _exif_tags(exif)
    orientation = None if tags is None else tags.get(0x0112)
    method = _ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return image_u8 if method is None else np.asarray(Image.fromarray(image_u8).transpose(method))


def encode_image(
    image_u8: np.ndarray,
    suffix: str,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    png_compress_level: int = PNG_COMPRESS_LEVEL,
) -> bytes:
    """The bytes :func:`save_image` writes for a file with this suffix (a batch writes them itself)."""
    if not 0 <= png_compress_level <= 9:
        raise ValueError(f"png_compress_level must be 0..9, got {png_compress_level}")
    fmt = LOSSLESS_SUFFIXES.get(suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported output format {suffix!r}; use one of {sorted(LOSSLESS_SUFFIXES)}")
    if fmt == "WEBP" and max(image_u8.shape[:2]) > WEBP_MAX_SIDE:
        raise ValueError(f"WebP holds at most {WEBP_MAX_SIDE} pixels a side, this image is {image_u8.shape[1]}x"
                         f"{image_u8.shape[0]}: use PNG or TIFF")  # fmt: skip
    stored_gray = image_u8.ndim == 2 and fmt != "WEBP"  # WebP has no gray: it stores gray pixels as RGB
    icc_profile = icc_profile if profile_fits(icc_profile, stored_gray) else None
    if (
        fmt == "BMP" and exif
    ):  # BMP keeps no EXIF: turn the pixels as the orientation says, or the photo lies on its side
        image_u8 = apply_orientation(image_u8, exif)
    if fmt == "PNG":
        return encode_png(image_u8, png_compress_level, exif, icc_profile)
    options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    if fmt != "BMP":
        options.update({k: v for k, v in (("exif", exif), ("icc_profile", icc_profile)) if v})
    try:
        return _pillow_bytes(image_u8, fmt, options)
    except Exception:  # noqa: BLE001 - Pillow's TIFF writer re-packs each EXIF tag: corrupt ones fail in many ways
        if fmt != "TIFF" or "exif" not in options:
            raise
    del options["exif"]  # the pixels matter more than corrupt metadata
    return _pillow_bytes(image_u8, fmt, options)


def _pillow_bytes(image_u8: np.ndarray, fmt: str, options: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image_u8).save(buf, format=fmt, **options)
    return buf.getvalue()


def save_image(
    image_u8: np.ndarray,
    path: str | os.PathLike,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    png_compress_level: int = PNG_COMPRESS_LEVEL,
) -> None:
    """Save losslessly in the format named by the suffix (PNG, BMP, TIFF, lossless WebP), atomically.

    ``exif`` and ``icc_profile`` are carried over where the format stores them, so a restored photo keeps its
    orientation and colours; BMP stores neither, so its pixels are turned as the EXIF orientation says. A profile
    for another colour space than the image's (a CMYK file's, on the RGB restoration) is dropped: readers reject it.
    ``png_compress_level`` (0-9) trades PNG size for time; the pixels are the same at every level.
    """
    path = Path(path)
    atomic_write_bytes(encode_image(image_u8, path.suffix, exif, icc_profile, png_compress_level), path)

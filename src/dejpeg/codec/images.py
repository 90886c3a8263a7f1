"""Image files in and out: decoding any format to uint8, writing restorations (8- or 16-bit, lossless or at a
chosen quality) with their metadata."""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, TiffImagePlugin, TiffTags, features
from zlib_ng import zlib_ng

from dejpeg.files import atomic_write_bytes

#: Output formats by file suffix.
OUTPUT_SUFFIXES = {
    ".png": "PNG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".avif": "AVIF",
}
#: Suffixes written losslessly with the default :class:`Encoding` (WebP is lossless without a quality): where a
#: decoded image must be kept exactly.
LOSSLESS_SUFFIXES = frozenset(suffix for suffix, fmt in OUTPUT_SUFFIXES.items() if fmt not in ("JPEG", "AVIF"))
#: Formats that take a quality: JPEG and AVIF always (default :data:`DEFAULT_QUALITY`), WebP lossy with one and
#: lossless without.
QUALITY_FORMATS = ("JPEG", "WEBP", "AVIF")
DEFAULT_QUALITY = 90
#: Formats whose chroma subsampling is a choice (4:4:4 by default: the restoration's chroma is full resolution;
#: lossy WebP is always 4:2:0).
SUBSAMPLING_FORMATS = ("JPEG", "AVIF")
SUBSAMPLINGS = ("444", "420")
#: Formats that hold 16-bit samples.
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
#: JPEG's largest width and height.
JPEG_MAX_SIDE = 65535
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
    image: np.ndarray, level: int = PNG_COMPRESS_LEVEL, exif: bytes | None = None, icc_profile: bytes | None = None
) -> bytes:
    """(H, W) gray or (H, W, 3) RGB uint8, or uint16 for 16-bit samples, as PNG bytes (every row Paeth-filtered),
    using every CPU.

    Why not Pillow: it encodes in one thread, and on a 1 MP restore that took a fifth of the time (and it writes no
    16-bit RGB). Here bands of rows are filtered and deflated (zlib-ng) in parallel threads, which release the GIL;
    each band is a raw deflate stream primed with the 32 KiB before it and sync-flushed, so that together they form
    one stream (pigz's method). Paeth alone, instead of Pillow's choice per row, costs nothing in size on restored
    photos (docs/notebook.md, "Faster restore: PNG writer, int8 input view, consistency step (2026-11-28)").
    ``exif`` (raw, or with JPEG's "Exif\\0\\0" header) and ``icc_profile`` go into eXIf and iCCP chunks, as
    Pillow writes them.
    """
    channels = 1 if image.ndim == 2 else image.shape[-1]
    if (
        image.dtype not in (np.uint8, np.uint16)
        or image.ndim not in (2, 3)
        or channels not in _PNG_COLOUR_TYPES
        or image.size == 0
    ):
        raise ValueError(
            f"expected (H, W) or (H, W, 3) uint8 or uint16 with H, W >= 1, got {image.shape} {image.dtype}"
        )
    bit_depth = 8 * image.dtype.itemsize
    height, width = image.shape[:2]
    rows = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder(">")).view(np.uint8).reshape(height, -1)
    pixel_bytes = channels * image.dtype.itemsize  # PNG filters predict each byte from the pixel's to the left
    row_bytes = 1 + rows.shape[1]
    bands = max(1, min(os.cpu_count() or 1, height, height * row_bytes // (256 << 10)))
    bounds = [height * i // bands for i in range(bands + 1)]
    chunk_rows = max(1, (64 << 10) // row_bytes)  # filter a few rows at a time: the temporaries stay in cache
    window_rows = math.ceil(_DEFLATE_WINDOW / row_bytes)

    def filtered(start: int, end: int) -> np.ndarray:
        return _paeth_filter(rows[start:end], pixel_bytes, rows[start - 1] if start else None).reshape(-1)

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
    header = struct.pack(">IIBBBBB", width, height, bit_depth, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
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


def avif_available() -> bool:
    """Whether this Pillow writes AVIF (Pillow 11.3 and newer built with libavif; older ones lack the module)."""
    return "avif" in features.modules and bool(features.check_module("avif"))


@dataclass(frozen=True)
class Encoding:
    """How a restoration is written, besides the format its file's suffix names.

    ``quality`` (1-100): JPEG's and AVIF's (default :data:`DEFAULT_QUALITY`); WebP is lossy at it, lossless without
    it. ``subsampling`` ("444" or "420"): JPEG's and AVIF's chroma (default "444"). ``bit_depth`` 16: PNG and TIFF of
    16-bit samples, from uint16 pixels (8-bit v is 16-bit v * 257). ``png_compress_level`` (0-9) trades PNG size for
    time; the pixels are the same at every level.
    """

    quality: int | None = None
    subsampling: str | None = None
    bit_depth: int = 8
    png_compress_level: int = PNG_COMPRESS_LEVEL

    def format_for(self, suffix: str) -> str:
        """The format of a file with ``suffix``, once this encoding is known to fit it; else a ValueError saying why
        (call it before restoring, so that a bad choice fails before the work)."""
        fmt = OUTPUT_SUFFIXES.get(suffix.lower())
        if fmt is None:
            raise ValueError(f"unsupported output format {suffix!r}; use one of {sorted(OUTPUT_SUFFIXES)}")
        if not 0 <= self.png_compress_level <= 9:
            raise ValueError(f"png_compress_level must be 0..9, got {self.png_compress_level}")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be 1..100, got {self.quality}")
        if self.quality is not None and fmt not in QUALITY_FORMATS:
            raise ValueError(f"{fmt} is lossless: a quality applies to JPEG, WebP and AVIF only")
        if self.subsampling is not None and self.subsampling not in SUBSAMPLINGS:
            raise ValueError(f"subsampling must be one of {list(SUBSAMPLINGS)}, got {self.subsampling!r}")
        if self.subsampling is not None and fmt not in SUBSAMPLING_FORMATS:
            always = " (lossy WebP is always 4:2:0)" if fmt == "WEBP" else ""
            raise ValueError(f"chroma subsampling is a choice of JPEG and AVIF only, not of {fmt}{always}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit depth must be 8 or 16, got {self.bit_depth}")
        if self.bit_depth == 16 and fmt not in SIXTEEN_BIT_FORMATS:
            raise ValueError(f"{fmt} cannot hold 16-bit samples: write PNG or TIFF, or 8 bits")
        if fmt == "AVIF" and not avif_available():
            raise ValueError("this Pillow cannot write AVIF (Pillow 11.3 or newer, built with libavif, can)")
        return fmt

    def settings(self, suffix: str) -> dict[str, Any]:
        """What a file with ``suffix`` holds besides what its suffix says: the quality, subsampling and bit depth
        it was written with, where they apply (the PNG level changes the size, not the pixels). A batch's manifest
        records it, so that an output written with other settings is not taken for up to date. Empty for 8-bit
        lossless files, which is what rows written before these options existed describe."""
        fmt = self.format_for(suffix)
        settings: dict[str, Any] = {}
        if fmt in SUBSAMPLING_FORMATS:
            settings["quality"] = self.quality or DEFAULT_QUALITY
            settings["subsampling"] = self.subsampling or SUBSAMPLINGS[0]
        elif fmt == "WEBP" and self.quality is not None:
            settings["quality"] = self.quality
        if self.bit_depth != 8:
            settings["bit_depth"] = self.bit_depth
        return settings


def encode_image(
    image: np.ndarray,
    suffix: str,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    encoding: Encoding = Encoding(),
) -> bytes:
    """The bytes :func:`save_image` writes for a file with this suffix (a batch writes them itself)."""
    fmt = encoding.format_for(suffix)
    dtype = np.dtype(np.uint16 if encoding.bit_depth == 16 else np.uint8)
    if image.dtype != dtype:
        raise ValueError(f"{encoding.bit_depth}-bit output is written from {dtype} pixels, got {image.dtype}")
    for limited, limit in (("WEBP", WEBP_MAX_SIDE), ("JPEG", JPEG_MAX_SIDE)):
        if fmt == limited and max(image.shape[:2]) > limit:
            raise ValueError(f"{'WebP' if fmt == 'WEBP' else fmt} holds at most {limit} pixels a side, this image "
                             f"is {image.shape[1]}x{image.shape[0]}: use PNG or TIFF")  # fmt: skip
    stored_gray = image.ndim == 2 and fmt != "WEBP"  # WebP has no gray: it stores gray pixels as RGB
    icc_profile = icc_profile if profile_fits(icc_profile, stored_gray) else None
    if (
        fmt == "BMP" and exif
    ):  # BMP keeps no EXIF: turn the pixels as the orientation says, or the photo lies on its side
        image = apply_orientation(image, exif)
    if fmt == "PNG":
        return encode_png(image, encoding.png_compress_level, exif, icc_profile)
    if fmt == "TIFF" and encoding.bit_depth == 16:
        return encode_tiff16(image, exif, icc_profile)
    options = _pillow_options(fmt, encoding, gray=image.ndim == 2)
    if fmt != "BMP":
        if exif and fmt == "JPEG":  # Pillow writes JPEG's EXIF segment as given: it needs its header
            exif = b"Exif\0\0" + exif.removeprefix(b"Exif\0\0")
        options.update({k: v for k, v in (("exif", exif), ("icc_profile", icc_profile)) if v})
    try:
        return _pillow_bytes(image, fmt, options)
    except Exception:  # noqa: BLE001 - Pillow's TIFF writer re-packs each EXIF tag: corrupt ones fail in many ways
        if fmt != "TIFF" or "exif" not in options:
            raise
    del options["exif"]  # the pixels matter more than corrupt metadata
    return _pillow_bytes(image, fmt, options)


def _pillow_options(fmt: str, encoding: Encoding, gray: bool) -> dict[str, object]:
    """Pillow's save options for ``fmt``: lossless WebP without a quality; JPEG with optimized Huffman tables
    (a few per cent smaller, the same pixels); a gray image's chroma is not subsampled, there is none."""
    if fmt == "WEBP":
        return {"lossless": True} if encoding.quality is None else {"quality": encoding.quality}
    if fmt not in SUBSAMPLING_FORMATS:
        return {}
    options: dict[str, object] = {"quality": encoding.quality or DEFAULT_QUALITY}
    if fmt == "JPEG":
        options["optimize"] = True
    if not gray:
        options["subsampling"] = ":".join(encoding.subsampling or SUBSAMPLINGS[0])
    return options


def _pillow_bytes(image: np.ndarray, fmt: str, options: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **options)
    return buf.getvalue()


def encode_tiff16(
    image_u16: np.ndarray, exif: bytes | None = None, icc_profile: bytes | None = None, strip_bytes: int = 1 << 16
) -> bytes:
    """(H, W) gray or (H, W, 3) RGB uint16 as an uncompressed TIFF of 16-bit samples, which Pillow cannot write
    (it has no 16-bit RGB mode). The directory is Pillow's own, so EXIF and the colour profile are carried as in
    its 8-bit TIFF; EXIF that Pillow cannot re-pack is dropped, as there. Strips of about ``strip_bytes``."""
    image_u16 = np.ascontiguousarray(image_u16, dtype="<u2")
    channels = 1 if image_u16.ndim == 2 else image_u16.shape[-1]
    if image_u16.ndim not in (2, 3) or channels not in (1, 3) or image_u16.size == 0:
        raise ValueError(f"expected (H, W) or (H, W, 3) uint16 with H, W >= 1, got {image_u16.shape}")
    height, width = image_u16.shape[:2]
    row_bytes = width * channels * 2
    rows_per_strip = max(1, min(height, strip_bytes // row_bytes))
    starts = range(0, height, rows_per_strip)
    structure = {
        256: width,  # ImageWidth
        257: height,  # ImageLength
        258: (16,) * channels,  # BitsPerSample
        259: 1,  # Compression: none
        262: 2 if channels == 3 else 1,  # PhotometricInterpretation: RGB, or BlackIsZero
        273: tuple(start * row_bytes for start in starts),  # StripOffsets (from the data's start; Pillow adds it)
        277: channels,  # SamplesPerPixel
        278: rows_per_strip,  # RowsPerStrip
        279: tuple((min(start + rows_per_strip, height) - start) * row_bytes for start in starts),  # StripByteCounts
        284: 1,  # PlanarConfiguration: chunky
    }
    if icc_profile:
        structure[34675] = icc_profile  # InterColorProfile
    out = io.BytesIO()
    try:
        _tiff_directory(structure, _exif_tags(exif) if exif else None).save(out)
    except Exception:  # noqa: BLE001 - as in encode_image: Pillow fails to re-pack corrupt EXIF in many ways
        if not exif:
            raise
        out = io.BytesIO()  # the pixels matter more than corrupt metadata
        _tiff_directory(structure, None).save(out)
    out.write(image_u16.tobytes())
    return out.getvalue()


def _tiff_directory(structure: dict[int, object], exif: Image.Exif | None) -> TiffImagePlugin.ImageFileDirectory_v2:
    """A little-endian TIFF directory of the EXIF tags, copied as Pillow's TIFF writer copies them, then the
    ``structure`` tags (which win, as there)."""
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    for key in exif or ():
        ifd[key] = exif.get_ifd(key) if key in TiffTags.TAGS_V2_GROUPS else exif.get(key)
    for key, value in structure.items():
        ifd[key] = value
    ifd.tagtype[273] = ifd.tagtype[279] = TiffTags.LONG  # offsets and counts past 64 KiB
    return ifd


def save_image(
    image: np.ndarray,
    path: str | os.PathLike,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    encoding: Encoding = Encoding(),
) -> None:
    """Save in the format named by the suffix (PNG, BMP, TIFF, WebP, JPEG, AVIF) as ``encoding`` says, atomically.

    ``image`` is (H, W) gray or (H, W, 3) RGB, uint8, or uint16 for ``encoding.bit_depth`` 16. ``exif`` and
    ``icc_profile`` are carried over where the format stores them, so a restored photo keeps its orientation and
    colours; BMP stores neither, so its pixels are turned as the EXIF orientation says. A profile for another colour
    space than the image's (a CMYK file's, on the RGB restoration) is dropped: readers reject it.
    """
    path = Path(path)
    atomic_write_bytes(encode_image(image, path.suffix, exif, icc_profile, encoding), path)

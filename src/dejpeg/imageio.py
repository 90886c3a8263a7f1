"""Image files in and out: folder listing, decoding any format to uint8, atomic writes."""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
#: Formats written losslessly by output suffix; JPEG output is refused (it would re-add artifacts).
LOSSLESS_SUFFIXES = {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
#: zlib level of PNG output (see :func:`encode_png`).
PNG_COMPRESS_LEVEL = 3
_PNG_COLOUR_TYPES = {1: 0, 3: 2}  # channels -> PNG colour type: grayscale, truecolour


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def parallel_zlib(data: bytes | memoryview, level: int, pieces: int | None = None) -> bytes:
    """``zlib.compress(data, level)``'s format, deflated in ``pieces`` threads (default: one per CPU, at least
    256 KiB each), as pigz does: each piece is a raw deflate stream primed with the 32 KiB before it and
    sync-flushed, so the concatenation is one valid stream. zlib releases the GIL, so a restore's PNG is
    written in about 1/N of the time, a few tenths of a percent larger."""
    data = memoryview(data).cast("B")
    if pieces is None:
        pieces = max(1, min(os.cpu_count() or 1, len(data) // (256 << 10)))
    bounds = [len(data) * i // pieces for i in range(pieces + 1)]

    def deflate(i: int) -> bytes:
        start, end = bounds[i], bounds[i + 1]
        window = bytes(data[max(0, start - 32768) : start])
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, **({"zdict": window} if window else {}))
        last = i == pieces - 1
        return compressor.compress(data[start:end]) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)

    with ThreadPoolExecutor(pieces) as pool:
        body = b"".join(pool.map(deflate, range(pieces)))
    return zlib.compress(b"", level)[:2] + body + struct.pack(">I", zlib.adler32(data))


def encode_png(
    image_u8: np.ndarray, level: int = PNG_COMPRESS_LEVEL, exif: bytes | None = None, icc_profile: bytes | None = None
) -> bytes:
    """(H, W) gray or (H, W, 3) RGB uint8 as PNG bytes, every row with PNG's "Up" filter.

    Why not Pillow: it tries all five filters on every row and keeps the best, which took most of its time;
    on restored photos the "Up" filter alone, deflated at the same level, gives files as small or smaller
    in a third to a half of the time (docs/training.md, session 12). ``exif`` (raw, or with JPEG's "Exif\\0\\0" header)
    and ``icc_profile`` are stored in eXIf and iCCP chunks, as Pillow stores them.
    """
    image_u8 = np.ascontiguousarray(image_u8)
    channels = 1 if image_u8.ndim == 2 else image_u8.shape[-1]
    if image_u8.dtype != np.uint8 or image_u8.ndim not in (2, 3) or channels not in _PNG_COLOUR_TYPES:
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8, got {image_u8.shape} {image_u8.dtype}")
    height, width = image_u8.shape[:2]
    rows = image_u8.reshape(height, width * channels)
    filtered = np.empty((height, 1 + rows.shape[1]), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type "Up": each byte minus the byte above it (the first row: minus zero)
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG's does
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[channels], 0, 0, 0)
    chunks = [_png_chunk(b"IHDR", header)]
    if icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile)))
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif.removeprefix(b"Exif\0\0")))
    chunks += [_png_chunk(b"IDAT", parallel_zlib(filtered, level)), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted so that runs are reproducible."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images in {folder}")
    return files


def load_rgb_u8(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB of any image file Pillow reads."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_image(
    image_u8: np.ndarray,
    path: str | os.PathLike,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    png_compress_level: int = PNG_COMPRESS_LEVEL,
) -> None:
    """Save losslessly in the format named by the suffix (PNG, BMP, TIFF, lossless WebP), atomically.

    ``exif`` and ``icc_profile`` are carried over where the format stores them (not BMP), so a
    restored photo keeps its orientation and colours. ``png_compress_level`` (0-9) trades PNG
    size for time; the pixels are the same at every level.
    """
    if not 0 <= png_compress_level <= 9:
        raise ValueError(f"png_compress_level must be 0..9, got {png_compress_level}")
    path = Path(path)
    fmt = LOSSLESS_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported output format {path.suffix!r}; use one of {sorted(LOSSLESS_SUFFIXES)}")
    if fmt == "PNG":
        atomic_write_bytes(encode_png(image_u8, png_compress_level, exif, icc_profile), path)
        return
    buf = io.BytesIO()
    options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    if fmt != "BMP":
        options.update({k: v for k, v in (("exif", exif), ("icc_profile", icc_profile)) if v})
    Image.fromarray(image_u8).save(buf, format=fmt, **options)
    atomic_write_bytes(buf.getvalue(), path)

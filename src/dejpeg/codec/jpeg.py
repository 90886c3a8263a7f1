"""Pixel-domain JPEG encode/decode through libjpeg(-turbo) via Pillow."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dejpeg.jpeg.header import MAX_PIXELS, check_header, parse_header
from dejpeg.jpeg.quantization import ijg_qtables

# Pillow's ``subsampling`` codes.
SUBSAMPLING = {"444": 0, "422": 1, "420": 2}

PathOrBytes = str | os.PathLike | bytes


def _as_pil(image_u8: np.ndarray) -> Image.Image:
    if image_u8.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image_u8.dtype}")
    if image_u8.ndim == 2:
        return Image.fromarray(image_u8, mode="L")
    if image_u8.ndim == 3 and image_u8.shape[2] == 3:
        return Image.fromarray(image_u8, mode="RGB")
    raise ValueError(f"expected (H, W) gray or (H, W, 3) RGB, got shape {image_u8.shape}")


def encode(
    image_u8: np.ndarray,
    quality: int | None = None,
    qtables: np.ndarray | None = None,
    subsampling: str = "420",
) -> bytes:
    """Baseline JPEG bytes of an 8-bit image.

    Args:
        image_u8: (H, W) gray or (H, W, 3) RGB uint8.
        quality: IJG quality 1..100 (standard tables scaled as libjpeg does).
        qtables: alternatively (N, 8, 8) integer tables in raster order (luma, chroma), 1..255.
        subsampling: chroma subsampling, one of ``"444"``, ``"422"``, ``"420"``; ignored for gray.

    Example:
        >>> data = encode(np.zeros((16, 16), np.uint8), quality=50)
        >>> data[:2] == b"\\xff\\xd8"
        True
    """
    if (quality is None) == (qtables is None):
        raise ValueError("give exactly one of quality or qtables")
    if subsampling not in SUBSAMPLING:
        raise ValueError(f"subsampling must be one of {sorted(SUBSAMPLING)}, got {subsampling!r}")
    if quality is not None:
        qtables = ijg_qtables(quality)  # validates the range
    tables = np.asarray(qtables)
    if tables.ndim == 2:
        tables = tables[None]
    if tables.shape[1:] != (8, 8) or tables.min() < 1 or tables.max() > 255:
        raise ValueError("qtables must be (N, 8, 8) with entries in 1..255")
    pil = _as_pil(image_u8)
    buf = io.BytesIO()
    table_list = [t.reshape(64).astype(int).tolist() for t in tables]
    if pil.mode == "L":
        table_list = table_list[:1]
    elif len(table_list) == 1:
        table_list = table_list * 2
    pil.save(buf, format="JPEG", qtables=table_list, subsampling=SUBSAMPLING[subsampling], optimize=False)
    return buf.getvalue()


def _read(source: PathOrBytes) -> bytes:
    """Paths are read to memory first so that file-system errors (missing file, permissions)
    keep their own exception types while Pillow's errors all mean bad data."""
    return bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()


def open_jpeg(data: bytes) -> Image.Image:
    """Open without decoding; unreadable image data, or another format, is a ValueError like every other bad input.

    An MPO (what phones write: a JPEG, then more images after it) opens as its first image, the JPEG.
    """
    try:
        pil = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as error:  # its message is the repr of our buffer: say it in words
        raise ValueError("not a readable JPEG file") from error
    except (OSError, Image.DecompressionBombError) as error:  # a truncated header, or over Pillow's own limit
        raise ValueError(f"not a readable JPEG file: {error}") from error
    if pil.format not in ("JPEG", "MPO"):
        pil.close()
        raise ValueError(f"not a JPEG file (format {pil.format})")
    return pil


@dataclass(frozen=True)
class DecodedJpeg:
    """A JPEG file read once: its pixels, its tables, and the metadata a restored copy should keep."""

    pixels: np.ndarray  # (H, W) uint8 for grayscale files, (H, W, 3) RGB otherwise
    qtables: np.ndarray  # (N, 8, 8) int32, raster order, by table slot
    exif: bytes | None  # raw EXIF (orientation, camera, date), None when absent
    icc_profile: bytes | None  # colour profile, None when absent


def read_jpeg(source: PathOrBytes, max_pixels: int | None = MAX_PIXELS) -> DecodedJpeg:
    """Decode a JPEG (bytes or path) and read its tables and metadata in one pass.

    The header is checked first (:func:`dejpeg.jpeg.header.check_header`): a zero quantization step, or a
    frame over ``max_pixels`` (None: no limit of ours; Pillow's ``Image.MAX_IMAGE_PIXELS`` still holds) or
    implausibly large for the file's size, is refused before anything is decoded.
    """
    data = _read(source)
    check_header(data, max_pixels)
    with open_jpeg(data) as pil:
        try:
            pil.load()
        except OSError as error:  # truncated or corrupt entropy-coded data
            raise ValueError(f"corrupt JPEG data: {error}") from error
        pixels = np.asarray(pil if pil.mode == "L" else pil.convert("RGB")).copy()
        quant = pil.quantization
        return DecodedJpeg(
            pixels=pixels,
            qtables=np.stack([np.asarray(quant[k], dtype=np.int32).reshape(8, 8) for k in sorted(quant)]),
            exif=pil.info.get("exif"),
            icc_profile=pil.info.get("icc_profile"),
        )


def decode(source: PathOrBytes) -> np.ndarray:
    """Decode a JPEG (bytes or path) to uint8: (H, W) for grayscale files, (H, W, 3) RGB otherwise."""
    return read_jpeg(source).pixels


def decode_luma(source: PathOrBytes, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """The (H, W) uint8 luma plane as libjpeg-turbo decodes it; colour files skip their chroma (Pillow's draft).
    The header is checked first, as in :func:`read_jpeg`."""
    data = _read(source)
    check_header(data, max_pixels)
    with open_jpeg(data) as pil:
        if pil.mode != "L":
            pil.draft("L", pil.size)
        try:
            pil.load()
        except OSError as error:
            raise ValueError(f"corrupt JPEG data: {error}") from error
        return np.asarray(pil.convert("L")).copy()


def read_qtables(source: PathOrBytes) -> np.ndarray:
    """The quantization tables of a JPEG file, (N, 8, 8) int32 in raster order, by table slot.

    Tables with a zero step are refused (the model and the consistency step divide by them).
    """
    data = _read(source)
    parse_header(data)
    with open_jpeg(data) as pil:
        quant = pil.quantization
    return np.stack([np.asarray(quant[k], dtype=np.int32).reshape(8, 8) for k in sorted(quant)])


def jpeg_roundtrip(
    image_u8: np.ndarray, quality: int | None = None, qtables: np.ndarray | None = None, subsampling: str = "420"
) -> tuple[np.ndarray, bytes]:
    """Compress then decode; returns the decoded image and the JPEG bytes."""
    data = encode(image_u8, quality=quality, qtables=qtables, subsampling=subsampling)
    return decode(data), data

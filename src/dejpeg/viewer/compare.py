"""What a before/after comparison shows: the JPEG as decoded, its restoration, the file's estimated quality and,
given the original, the PSNR of both. :mod:`dejpeg.viewer.page` turns one into HTML."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dejpeg.api import ModelLike, restore
from dejpeg.arrays import u8_to_tensor
from dejpeg.codec import read_coefficients, read_jpeg
from dejpeg.codec.images import apply_orientation, encode_png
from dejpeg.evaluation import load_reference
from dejpeg.jpeg import QualityEstimate, estimate_quality
from dejpeg.metrics import psnr
from dejpeg.models import default_model_name


@dataclass(frozen=True)
class Comparison:
    """One JPEG beside its restoration, as stored (not yet turned as the EXIF orientation says)."""

    #: The JPEG's file name, shown as the page's title.
    name: str
    #: Size of the JPEG file in bytes.
    jpeg_bytes: int
    #: (H, W) gray or (H, W, 3) RGB uint8, the file as decoded (what a viewer shows of it).
    jpeg: np.ndarray
    #: The restoration, same shape and dtype.
    restored: np.ndarray
    #: The IJG quality the file's tables correspond to.
    quality: QualityEstimate
    #: What restored it: a model name, or the file given as the restoration.
    restored_by: str
    #: PSNR (dB) of the JPEG and of the restoration against the original; None without an original.
    psnr_jpeg: float | None
    psnr_restored: float | None
    #: The JPEG's EXIF, whose orientation tag the viewer applies to both images.
    exif: bytes | None

    @property
    def width(self) -> int:
        return self.jpeg.shape[1]

    @property
    def height(self) -> int:
        return self.jpeg.shape[0]

    def upright(self) -> tuple[np.ndarray, np.ndarray]:
        """The JPEG and the restoration turned as the EXIF orientation says, as a photo viewer shows them."""
        if not self.exif:
            return self.jpeg, self.restored
        return apply_orientation(self.jpeg, self.exif), apply_orientation(self.restored, self.exif)

    def view_pngs(self) -> tuple[bytes, bytes]:
        """The two upright images as PNG files without metadata, which browsers show pixel for pixel (they apply a
        JPEG's own EXIF orientation and colour profile inconsistently, and may decode it differently)."""
        before, after = self.upright()
        return encode_png(before), encode_png(after)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable facts of the comparison (an index row, the web app's job status)."""
        width, height = self.upright()[0].shape[1::-1]
        return {
            "name": self.name,
            "bytes": self.jpeg_bytes,
            "width": width,
            "height": height,
            "quality": self.quality.quality,
            "quality_exact": self.quality.exact,
            "restored_by": self.restored_by,
            "psnr_jpeg": self.psnr_jpeg,
            "psnr_restored": self.psnr_restored,
        }


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def load_u8(path: str | os.PathLike, gray: bool) -> np.ndarray:
    """An image file as uint8 RGB, or gray for a grayscale JPEG: a gray file as it is, a colour one as
    MATLAB-style BT.601 luma (the grayscale convention of ``dejpeg evaluate``, :func:`load_reference`)."""
    if gray:
        with Image.open(path) as image:
            if image.mode == "L":
                return np.asarray(image).copy()
    return load_reference(Path(path), gray)


def _psnr_db(image_u8: np.ndarray, reference_u8: np.ndarray) -> float:
    return psnr(u8_to_tensor(image_u8, unit_range=False), u8_to_tensor(reference_u8, unit_range=False), 255.0).item()


def compare(
    jpeg: str | os.PathLike,
    restored: str | os.PathLike | None = None,
    original: str | os.PathLike | None = None,
    model: ModelLike = None,
    device: str = "cpu",
    precision: str = "auto",
    strength: float | str | None = None,
) -> Comparison:
    """Compare a JPEG file with its restoration: ``restored`` (an image file), or else restored here by ``model``
    at ``strength`` as :func:`dejpeg.restore` (and so ``dejpeg restore``) does; with the ``original``, also their
    PSNR.

    The quality is the one ``dejpeg info`` prints (:func:`file_quality`). A file that is not a JPEG, or
    images of different sizes, raise a ValueError.
    """
    jpeg = Path(jpeg)
    decoded = read_jpeg(jpeg)
    gray = decoded.pixels.ndim == 2
    if restored is None:
        restored_u8 = restore(jpeg, model, device=device, precision=precision, strength=strength)
        restored_by = model_label(model, strength)
    else:
        restored_u8 = load_u8(restored, gray)
        restored_by = f"given ({Path(restored).name})"
    _check_size(restored, restored_u8, decoded.pixels)
    psnr_jpeg = psnr_restored = None
    if original is not None:
        original_u8 = load_u8(original, gray)
        _check_size(original, original_u8, decoded.pixels)
        psnr_jpeg, psnr_restored = _psnr_db(decoded.pixels, original_u8), _psnr_db(restored_u8, original_u8)
    return Comparison(
        name=jpeg.name,
        jpeg_bytes=jpeg.stat().st_size,
        jpeg=decoded.pixels,
        restored=restored_u8,
        quality=file_quality(jpeg, decoded.qtables),
        restored_by=restored_by,
        psnr_jpeg=psnr_jpeg,
        psnr_restored=psnr_restored,
        exif=decoded.exif,
    )


def file_quality(jpeg: Path, slot_tables: np.ndarray) -> QualityEstimate:
    """The estimate ``dejpeg info`` prints: from the table of each component (libjpeg's coefficient reader), or of
    each table slot (``slot_tables``, Pillow's) for the colour spaces that reader refuses (CMYK, YCCK)."""
    try:
        tables = read_coefficients(jpeg).qtables
    except ValueError:
        tables = slot_tables
    return estimate_quality(tables)


def model_label(model: ModelLike, strength: float | str | None = None) -> str:
    """What a page says restored the image: the model's name (or file, or class), and the strength if one is set."""
    if model is None:
        name = default_model_name()
    else:
        name = str(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
    return name if strength is None else f"{name} at strength {strength}"


def _check_size(path: str | os.PathLike | None, image: np.ndarray, jpeg_pixels: np.ndarray) -> None:
    if image.shape[:2] != jpeg_pixels.shape[:2]:
        what = "the restoration" if path is None else str(path)
        raise ValueError(
            f"{what} is {image.shape[1]}x{image.shape[0]} pixels, the JPEG {jpeg_pixels.shape[1]}x"
            f"{jpeg_pixels.shape[0]}"
        )

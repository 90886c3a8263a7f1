"""Lossless access to a JPEG's quantized DCT coefficients (through jpeglib/libjpeg).

Layout facts (verified by tests, not assumed): jpeglib gives each component as
``(rows_of_blocks, cols_of_blocks, 8, 8)`` int16 with row = vertical frequency, quantization
tables in raster (not zigzag) order, and sampling factors as (vertical, horizontal).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import jpeglib
import numpy as np
import torch

from dejpeg.jpeg.codec import PathOrBytes
from dejpeg.jpeg.dct import idct_8x8
from dejpeg.jpeg.header import MAX_PIXELS, check_header, without_app_segments

# Colour spaces whose component 0 is luma and that libjpeg can write back unchanged.
_SUPPORTED_SPACES = {"JCS_GRAYSCALE", "JCS_YCbCr"}


@dataclasses.dataclass(frozen=True, eq=False)
class JpegCoefficients:
    """Everything needed to decode or rewrite a baseline gray/YCbCr JPEG losslessly.

    Arrays are made read-only so the "frozen" promise holds for their contents too.

    Attributes:
        components: per component (Y, or Y/Cb/Cr) int16 ``(rows_blocks, cols_blocks, 8, 8)``
            quantized coefficients on the component's block grid, i.e. libjpeg's
            ``ceil(component_size / 8)`` blocks per axis, with the partial edge blocks that
            hold the encoder's padding. (Whole dummy blocks that only complete a 16-pixel
            MCU are not kept: decoders discard them and libjpeg regenerates them on write.)
        qtables: ``(num_components, 8, 8)`` int32, the table of each component, raster order.
        sampling: per component ``(vertical, horizontal)`` sampling factors, e.g.
            ``((2, 2), (1, 1), (1, 1))`` for 4:2:0.
        height: image height in pixels.
        width: image width in pixels.
        corrupt: libjpeg's warnings while reading the file, e.g. "Corrupt JPEG data: premature end of data
            segment": the coefficients of a damaged file, as libjpeg recovered them. Empty for valid files.
    """

    components: tuple[np.ndarray, ...]
    qtables: np.ndarray
    sampling: tuple[tuple[int, int], ...]
    height: int
    width: int
    corrupt: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        components = tuple(np.asarray(c) for c in self.components)
        qtables = np.asarray(self.qtables)
        n = len(components)
        if n not in (1, 3):
            raise ValueError(f"expected 1 (gray) or 3 (YCbCr) components, got {n}")
        if qtables.shape != (n, 8, 8) or len(self.sampling) != n:
            raise ValueError(
                f"{n} components need qtables of shape ({n}, 8, 8) and {n} sampling factors, "
                f"got {qtables.shape} and {len(self.sampling)}"
            )
        for comp in components:
            if comp.ndim != 4 or comp.shape[2:] != (8, 8) or comp.dtype != np.int16:
                raise ValueError(f"components must be int16 (rows, cols, 8, 8), got {comp.dtype} {comp.shape}")
        if qtables.min() < 1:  # the consistency step divides by them
            raise ValueError(f"quantization steps must be 1 or more, got {qtables.min()}")
        object.__setattr__(self, "components", tuple(_read_only(c) for c in components))
        object.__setattr__(self, "qtables", _read_only(qtables.astype(np.int32)))
        object.__setattr__(self, "sampling", tuple((int(v), int(h)) for v, h in self.sampling))


def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.setflags(write=False)
    return array


#: How libjpeg's warnings about data it decoded anyway begin (jerror.h); other lines caught meanwhile are not its.
LIBJPEG_WARNINGS = ("Corrupt JPEG data", "Premature end of JPEG file", "Invalid SOS", "Inconsistent progression",
                    "Warning:", "Bogus", "Unsupported marker", "Ignoring")  # fmt: skip
#: File descriptor 2 is the whole process's: one redirection at a time (two interleaved would leave it pointing at
#: a deleted file, and every later message of the process would vanish).
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _stderr_to(path: str) -> Iterator[None]:
    """Send file descriptor 2 to ``path`` meanwhile: libjpeg prints its warnings (corrupt data) there, from C."""
    with _STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(path, "wb") as sink:
                os.dup2(sink.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _load_dct(path: str) -> tuple[jpeglib.DCTJPEG, tuple[str, ...]]:
    """The file's coefficients, and the warnings libjpeg gave while reading them (corrupt data it decoded anyway).

    What other threads wrote to stderr meanwhile (a progress bar, a summary) is written out again, not kept.
    """
    log = f"{path}.log"
    try:
        with _stderr_to(log):
            jpeg = jpeglib.read_dct(path)
            jpeg.load()
    except OSError as error:  # libjpeg reports corrupt files as OSError, naming our temporary file
        raise ValueError(f"could not read JPEG coefficients: {str(error).replace(path, 'the file')}") from error
    finally:
        caught = Path(log).read_bytes() if os.path.exists(log) else b""
        others = b"".join(
            line
            for line in caught.splitlines(keepends=True)
            if not line.decode(errors="replace").startswith(LIBJPEG_WARNINGS)
        )
        if others:
            os.write(2, others)
    lines = caught.decode(errors="replace").splitlines()
    return jpeg, tuple(line for line in lines if line.startswith(LIBJPEG_WARNINGS))


def read_coefficients(source: PathOrBytes, max_pixels: int | None = MAX_PIXELS) -> JpegCoefficients:
    """Quantized DCT coefficients, tables and geometry of a JPEG file (path or bytes).

    The header is checked before libjpeg allocates the coefficients, as in :func:`dejpeg.jpeg.read_jpeg`.

    Raises:
        ValueError: not a JPEG, corrupt, a zero quantization step, over the size limits, or not 1-component
            gray / 3-component YCbCr.
    """
    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    check_header(data, max_pixels)
    with tempfile.TemporaryDirectory(prefix="dejpeg-") as tmp:
        path = os.path.join(tmp, "in.jpg")
        with open(path, "wb") as f:
            f.write(without_app_segments(data))
        jpeg, corrupt = _load_dct(path)
    if jpeg.jpeg_color_space.name not in _SUPPORTED_SPACES:
        raise ValueError(f"unsupported JPEG colour space {jpeg.jpeg_color_space.name}; need gray or YCbCr")
    planes = [jpeg.Y] if jpeg.num_components == 1 else [jpeg.Y, jpeg.Cb, jpeg.Cr]
    return JpegCoefficients(
        components=tuple(np.asarray(p, dtype=np.int16) for p in planes),
        qtables=np.stack([jpeg.get_component_qt(i) for i in range(len(planes))]).astype(np.int32),
        sampling=tuple((int(v), int(h)) for v, h in np.asarray(jpeg.samp_factor)[: len(planes)]),
        height=int(jpeg.height),
        width=int(jpeg.width),
        corrupt=corrupt,
    )


def write_coefficients(coeffs: JpegCoefficients, path: str | os.PathLike | None = None) -> bytes:
    """Write a baseline JPEG holding exactly ``coeffs`` (no requantization); returns its bytes.

    Components sharing a table get one table slot (luma 0, chroma 1 as usual). The file is
    also written to ``path`` when given.
    """
    n = len(coeffs.components)
    slots: list[np.ndarray] = []
    assignment = []
    for table in coeffs.qtables:
        match = next((i for i, s in enumerate(slots) if np.array_equal(s, table)), None)
        if match is None:
            slots.append(table)
            match = len(slots) - 1
        assignment.append(match)
    jpeg = jpeglib.from_dct(
        Y=np.array(coeffs.components[0]),
        Cb=np.array(coeffs.components[1]) if n == 3 else None,
        Cr=np.array(coeffs.components[2]) if n == 3 else None,
        qt=np.stack(slots).astype(np.uint16),
        quant_tbl_no=np.array(assignment),
    )
    # from_dct infers size from the block grid; restore the true size and sampling.
    jpeg.height, jpeg.width = coeffs.height, coeffs.width
    jpeg.samp_factor = np.array(coeffs.sampling, dtype=np.int32)
    with tempfile.TemporaryDirectory(prefix="dejpeg-") as tmp:
        out = os.path.join(tmp, "out.jpg")
        try:
            jpeg.write_dct(out)
        except OSError as error:
            raise ValueError(f"libjpeg could not write these coefficients: {error}") from error
        data = Path(out).read_bytes()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def decode_luma_from_coefficients(coeffs: JpegCoefficients) -> np.ndarray:
    """The luma plane as a decoder produces it before rounding: dequantize, IDCT, +128, crop.

    Returns:
        (height, width) float64 in [0, 255] (clipped like libjpeg's range limit, not rounded).
    """
    luma = torch.from_numpy(coeffs.components[0].astype(np.float64))
    table = torch.from_numpy(coeffs.qtables[0].astype(np.float64))
    pixels = idct_8x8(luma * table) + 128.0  # (rows, cols, 8, 8)
    rows, cols = luma.shape[:2]
    plane = pixels.permute(0, 2, 1, 3).reshape(rows * 8, cols * 8)
    return plane[: coeffs.height, : coeffs.width].clamp(0.0, 255.0).numpy()


def luma_matches(coeffs: JpegCoefficients, luma_u8: np.ndarray, max_blocks: int = 4096, tolerance: float = 4.0) -> bool:
    """Whether another decoder's luma plane is the image these coefficients code, on a sample of block rows.

    Why: libjpeg versions recover from corrupt data differently, so the coefficients read here may not be
    the image Pillow decoded; projecting onto them would then turn a fine decode into garbage. On valid files
    (any quality, saturated colours) the mean difference of every block is under half a grey level (integer
    IDCT and rounding); ``tolerance`` is the mean absolute difference a whole block may reach.
    """
    full_rows, full_cols = coeffs.height // 8, coeffs.width // 8
    if coeffs.components[0].shape[0] < full_rows or coeffs.components[0].shape[1] < full_cols:
        return False  # luma coded below full resolution (sampling factors no encoder writes): no block-wise check
    if luma_u8.shape != (coeffs.height, coeffs.width) or not full_rows or not full_cols:
        return luma_u8.shape == (coeffs.height, coeffs.width)
    picked = np.arange(0, full_rows, max(1, -(-full_rows * full_cols // max_blocks)))
    blocks = torch.from_numpy(coeffs.components[0][picked, :full_cols].astype(np.float64))
    decoded = (idct_8x8(blocks * torch.from_numpy(coeffs.qtables[0].astype(np.float64))) + 128.0).clamp(0.0, 255.0)
    theirs = luma_u8[: full_rows * 8, : full_cols * 8].reshape(full_rows, 8, full_cols, 8)[picked].transpose(0, 2, 1, 3)
    difference = np.abs(decoded.numpy() - theirs).mean(axis=(2, 3))
    return bool(difference.max() <= tolerance)


#: No 8-bit image has a DCT coefficient larger than this (the DC of a block of 255s, less 128, is 8 * 127 = 1016;
#: each AC is at most 128 * (sum of |cos|)^2 / 4 < 850); quantization rounds by at most half a step more.
MAX_COEFFICIENT = 1024


def coefficients_in_range(coeffs: JpegCoefficients) -> bool:
    """Whether every dequantized coefficient is one an 8-bit image can have.

    Why: corrupt entropy-coded data can decode to a DC of thousands; decoders clamp the pixels it makes, but the
    consistency step would pull the restoration toward the unclamped value, far from every decoder's image.
    """
    for component, table in zip(coeffs.components, coeffs.qtables):
        limit = MAX_COEFFICIENT // table + 1  # in quantization steps: |c| * q <= 1024 + q / 2
        if (np.abs(component.astype(np.int32)) > limit).any():
            return False
    return True

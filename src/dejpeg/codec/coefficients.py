"""Reading and writing a JPEG's quantized DCT coefficients losslessly (through jpeglib/libjpeg).

Layout facts (verified by tests, not assumed): jpeglib gives each component as
``(rows_of_blocks, cols_of_blocks, 8, 8)`` int16 with row = vertical frequency, quantization
tables in raster (not zigzag) order, and sampling factors as (vertical, horizontal).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import jpeglib
import numpy as np

from dejpeg.codec.jpeg import PathOrBytes
from dejpeg.jpeg.coefficients import JpegCoefficients
from dejpeg.jpeg.header import MAX_PIXELS, check_header, without_app_segments

# Colour spaces whose component 0 is luma and that libjpeg can write back unchanged.
_SUPPORTED_SPACES = {"JCS_GRAYSCALE", "JCS_YCbCr"}


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

    The header is checked before libjpeg allocates the coefficients, as in :func:`dejpeg.codec.read_jpeg`.

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


def write_coefficients(
    coeffs: JpegCoefficients, path: str | os.PathLike | None = None, optimize: bool = False
) -> bytes:
    """Write a baseline JPEG holding exactly ``coeffs`` (no requantization); returns its bytes.

    Components sharing a table get one table slot (luma 0, chroma 1 as usual). ``optimize``: Huffman tables
    fitted to these coefficients (libjpeg's ``optimize_coding``: smaller, slower), else the standard ones. The
    file is also written to ``path`` when given.
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
            jpeg.write_dct(out, flags=["+OPTIMIZE_CODING"] if optimize else [])
        except OSError as error:
            raise ValueError(f"libjpeg could not write these coefficients: {error}") from error
        data = Path(out).read_bytes()
    if path is not None:
        Path(path).write_bytes(data)
    return data

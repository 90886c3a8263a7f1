"""What a JPEG file declares before its image data, read from the bytes without decoding anything.

Why: decoders allocate from the sizes a frame header (SOF) declares and accept tables the standard forbids,
so a few hostile bytes can ask for gigabytes or make every restored pixel NaN. Checking the header first
lets such files be refused before anything is allocated from an untrusted size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

#: Default pixel limit, Pillow's (``Image.MAX_IMAGE_PIXELS``, about 89 Mpx): past it Pillow warns of a
#: decompression bomb.
MAX_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485
#: Declared pixels per byte of file no real JPEG reaches. Huffman coding spends at least one bit per 8x8 block
#: of the full-resolution component (its DC difference), i.e. at most 512 pixels per byte; a flat grey
#: 4000x3000 image at quality 1 with optimized tables reaches 255 (with the standard tables: 85, in colour 64).
#: Four times the Huffman floor leaves room for arithmetic coding while a bomb must still spend its bytes.
MAX_PIXELS_PER_BYTE = 2048

#: Frame headers (SOF0-SOF15 less DHT, JPG and DAC); their numbers name the coding process.
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_DQT, _SOS = 0xDB, 0xDA
#: Markers without a length field: TEM, RST0-RST7, SOI, EOI.
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xDA)}


@dataclass(frozen=True)
class JpegHeader:
    """The frame as the file declares it (nothing here has been checked against the image data)."""

    width: int
    height: int
    components: int
    sof: int  # the frame marker's second byte, e.g. 0xC0 baseline, 0xC2 progressive


def _check_dqt(segment: bytes) -> None:
    """A DQT segment may hold several tables; each entry is a divisor (8- or 16-bit), so zero is refused."""
    pos = 0
    while pos < len(segment):
        precision, slot = segment[pos] >> 4, segment[pos] & 0x0F
        size = 128 if precision else 64
        entries = segment[pos + 1 : pos + 1 + size]
        if len(entries) < size:
            raise ValueError(f"truncated quantization table {slot}")
        steps = [int.from_bytes(entries[i : i + 2], "big") for i in range(0, size, 2)] if precision else entries
        if 0 in steps:
            largest = 65535 if precision else 255
            raise ValueError(f"quantization table {slot} has a zero step (JPEG requires 1-{largest})")
        pos += 1 + size


def _segments(data: bytes) -> Iterator[tuple[int, int, bytes, int]]:
    """Each marker segment from SOI to the first scan: (offset of its marker code, the code, its contents, the
    offset after it). Standalone markers are skipped.

    Raises:
        ValueError: not a JPEG, or a truncated header.
    """
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file (no SOI marker)")
    pos = 2
    while True:
        # As libjpeg finds the next marker: skip stray bytes up to an 0xFF, then fill bytes, then its code.
        pos = data.find(b"\xff", pos)
        while 0 <= pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if not 0 <= pos < len(data):
            raise ValueError("not a readable JPEG file (truncated header)")
        marker, start = data[pos], pos
        pos += 1
        if marker in STANDALONE_MARKERS or marker == 0:  # 0: a stuffed 0xFF byte, not a marker
            continue
        if pos + 2 > len(data):
            raise ValueError("not a readable JPEG file (truncated header)")
        length = int.from_bytes(data[pos : pos + 2], "big")
        segment = data[pos + 2 : pos + length]
        if length < 2 or len(segment) < length - 2:
            raise ValueError("not a readable JPEG file (truncated header)")
        yield start, marker, segment, pos + length
        if marker == _SOS:
            return
        pos += length


def parse_header(data: bytes) -> JpegHeader:
    """Walk the markers from SOI to the first scan: check every quantization table, return the frame header.

    Raises:
        ValueError: not a JPEG, truncated header, no frame before the first scan, or a zero quantization step.
    """
    frame = None
    for _, marker, segment, _ in _segments(data):
        if marker == _DQT:
            _check_dqt(segment)
        elif marker in SOF_MARKERS and frame is None:
            if len(segment) < 6:
                raise ValueError("not a readable JPEG file (truncated frame header)")
            height, width = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big")
            frame = JpegHeader(width=width, height=height, components=segment[5], sof=marker)
        elif marker == _SOS and frame is None:
            raise ValueError("not a readable JPEG file (image data before a frame header)")
    if frame is None:
        raise ValueError("not a readable JPEG file (truncated header)")
    return frame


def without_app_segments(data: bytes) -> bytes:
    """The file less its application segments (APP0-APP13, APP15: JFIF, EXIF, ICC, MPO index...) before the first
    scan; the Adobe APP14, which says the colour space, stays.

    Why: jpeglib's reader dies of SIGBUS on an application segment after stray bytes (an MPO whose APP0 length
    lies, tests/regressions/app-after-stray-bytes.jpg), and reading coefficients needs none of them.
    """
    parts, pos = [], 0
    for start, marker, _, end in _segments(data):
        if 0xE0 <= marker <= 0xEF and marker != 0xEE:
            parts.append(data[pos : start - 1])  # up to its 0xFF (fill bytes before it stay: harmless)
            pos = end
    return b"".join(parts) + data[pos:]


def check_header(data: bytes, max_pixels: int | None = MAX_PIXELS) -> JpegHeader:
    """:func:`parse_header`, then refuse frames too large to decode: over ``max_pixels`` (None: no limit), or
    declaring more pixels per byte of file than any real JPEG (:data:`MAX_PIXELS_PER_BYTE`)."""
    header = parse_header(data)
    pixels = header.width * header.height
    if pixels == 0:
        raise ValueError(f"JPEG frame declares an empty image ({header.width}x{header.height})")
    if max_pixels is not None and pixels > max_pixels:
        raise ValueError(
            f"image of {header.width}x{header.height} = {pixels} pixels is over the limit of {max_pixels} "
            "(max_pixels / --max-pixels)"
        )
    if pixels > MAX_PIXELS_PER_BYTE * len(data):
        raise ValueError(
            f"{header.width}x{header.height} image declared in {len(data)} bytes: over {MAX_PIXELS_PER_BYTE} pixels "
            "per byte, which no real JPEG reaches (a corrupt or hostile file)"
        )
    return header

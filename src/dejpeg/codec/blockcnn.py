"""The BlockCNN codec's file format: a small container around the quantized prediction residuals, which libjpeg
entropy-codes as a baseline JPEG with optimised Huffman tables. File I/O only: the prediction loop that makes and
reads the residuals is :mod:`dejpeg.blockcodec`.

Layout (big-endian)::

    magic "DJBC" | version u8 | layout u8 | quality u8 | name length u8 | height u32 | width u32
    model name (UTF-8) | model sha256 (32 bytes) | payload length u32 | payload (a JPEG) | crc32 u32

The JPEG payload holds the residual coefficients with the image's size, sampling and the quantization tables; the
crc32 covers every byte before it, so a damaged file is refused before any prediction runs (corrupt entropy-coded
data can otherwise decode to plausible coefficients and a silently wrong image).
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

from dejpeg.codec.coefficients import read_coefficients, write_coefficients
from dejpeg.jpeg.coefficients import JpegCoefficients

MAGIC = b"DJBC"
VERSION = 1
#: Colour layouts: one gray plane, or full-resolution luma with 4:2:0 chroma (each plane predicted).
LAYOUTS = ("gray", "ycbcr420")
SAMPLING = {"gray": ((1, 1),), "ycbcr420": ((2, 2), (1, 1), (1, 1))}
_HEADER = struct.Struct(">4sBBBBII")
_LENGTH = struct.Struct(">I")
_DIGEST = 32


@dataclasses.dataclass(frozen=True)
class BlockCodedFile:
    """What a BlockCNN codec file holds.

    Attributes:
        layout: one of :data:`LAYOUTS`.
        quality: the IJG quality of the residual quantization tables (1..100).
        model: the registry name of the predictor.
        model_sha256: hex sha256 of the predictor's weights (:func:`dejpeg.blockcodec.weights_sha256`), which the
            decoder checks before predicting: other weights predict other blocks.
        residuals: the quantized residual coefficients of each plane with the image's size, sampling and tables.
    """

    layout: str
    quality: int
    model: str
    model_sha256: str
    residuals: JpegCoefficients

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.residuals.sampling != SAMPLING[self.layout]:
            raise ValueError(
                f"a {self.layout} file has sampling {SAMPLING[self.layout]}, got {self.residuals.sampling}"
            )
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be in 1..100, got {self.quality}")
        if len(bytes.fromhex(self.model_sha256)) != _DIGEST:
            raise ValueError(f"model_sha256 must be 64 hex digits, got {self.model_sha256!r}")

    @property
    def height(self) -> int:
        return self.residuals.height

    @property
    def width(self) -> int:
        return self.residuals.width


def pack(coded: BlockCodedFile) -> bytes:
    """The file's bytes."""
    name = coded.model.encode()
    if not 0 < len(name) < 256:
        raise ValueError(f"model name must be 1..255 bytes, got {len(name)}")
    payload = write_coefficients(coded.residuals, optimize=True)
    header = _HEADER.pack(
        MAGIC, VERSION, LAYOUTS.index(coded.layout), coded.quality, len(name), coded.height, coded.width
    )
    body = header + name + bytes.fromhex(coded.model_sha256) + _LENGTH.pack(len(payload)) + payload
    return body + _LENGTH.pack(zlib.crc32(body))


def unpack(data: bytes) -> BlockCodedFile:
    """Read a file's bytes.

    Raises:
        ValueError: not a BlockCNN codec file (wrong magic), another version, truncated, corrupted (checksum), or
            a payload that disagrees with the header.
    """
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise ValueError("not a BlockCNN codec file (wrong magic)")
    if len(data) < _HEADER.size:
        raise ValueError(f"truncated file: {len(data)} bytes, shorter than the header")
    _, version, layout, quality, name_length, height, width = _HEADER.unpack_from(data)
    if version != VERSION:
        raise ValueError(f"unsupported BlockCNN codec version {version} (this dejpeg reads version {VERSION})")
    offset = _HEADER.size + name_length + _DIGEST
    if len(data) < offset + _LENGTH.size:
        raise ValueError(f"truncated file: {len(data)} bytes, shorter than the header")
    (payload_length,) = _LENGTH.unpack_from(data, offset)
    end = offset + _LENGTH.size + payload_length
    if len(data) != end + _LENGTH.size:
        kind = "truncated" if len(data) < end + _LENGTH.size else "corrupted"
        raise ValueError(f"{kind} file: {len(data)} bytes, the header announces {end + _LENGTH.size}")
    (checksum,) = _LENGTH.unpack_from(data, end)
    if zlib.crc32(data[:end]) != checksum:
        raise ValueError("corrupted file: checksum mismatch")
    if layout >= len(LAYOUTS):
        raise ValueError(f"corrupted file: unknown colour layout {layout}")
    try:
        name = data[_HEADER.size : _HEADER.size + name_length].decode()
    except UnicodeDecodeError as error:
        raise ValueError("corrupted file: the model name is not UTF-8") from error
    residuals = read_coefficients(data[offset + _LENGTH.size : end])
    if residuals.corrupt:
        raise ValueError(f"corrupted file: {residuals.corrupt[0]}")
    if (residuals.height, residuals.width) != (height, width):
        raise ValueError("corrupted file: the payload's image size disagrees with the header")
    sha = data[_HEADER.size + name_length : offset].hex()
    return BlockCodedFile(LAYOUTS[layout], quality, name, sha, residuals)

"""Codec I/O: JPEG through Pillow (pixels) and libjpeg (coefficients), recompression to a target, and lossless
image files for restorations. The format's math (DCT, quantization, colour) is :mod:`dejpeg.jpeg`."""

from dejpeg.codec.coefficients import read_coefficients, write_coefficients
from dejpeg.codec.images import load_rgb_u8, save_image
from dejpeg.codec.jpeg import (
    SUBSAMPLING,
    DecodedJpeg,
    decode,
    decode_luma,
    encode,
    jpeg_roundtrip,
    read_jpeg,
    read_qtables,
)
from dejpeg.codec.recompress import RatioResult, compress_to_ratio, double_compress

__all__ = [
    "read_coefficients",
    "write_coefficients",
    "load_rgb_u8",
    "save_image",
    "SUBSAMPLING",
    "DecodedJpeg",
    "decode",
    "decode_luma",
    "encode",
    "jpeg_roundtrip",
    "read_jpeg",
    "read_qtables",
    "RatioResult",
    "compress_to_ratio",
    "double_compress",
]

"""Everything about the JPEG format: tables, codec, coefficients, DCT, colour."""

from dejpeg.jpeg.blocks import blockify, deblockify, pad_to_multiple
from dejpeg.jpeg.codec import (
    SUBSAMPLING,
    DecodedJpeg,
    decode,
    decode_luma,
    encode,
    jpeg_roundtrip,
    read_jpeg,
    read_qtables,
)
from dejpeg.jpeg.coefficients import (
    JpegCoefficients,
    coefficients_in_range,
    decode_luma_from_coefficients,
    luma_matches,
    read_coefficients,
    write_coefficients,
)
from dejpeg.jpeg.color import (
    RgbToYcbcrJfif,
    YcbcrJfifToRgb,
    rgb_to_y_bt601_u8,
    rgb_to_ycbcr_jfif,
    ycbcr_jfif_to_rgb,
)
from dejpeg.jpeg.dct import ZIGZAG_ORDER, Dct8x8, Idct8x8, dct_8x8, dct_matrix, idct_8x8, zigzag_scan, zigzag_unscan
from dejpeg.jpeg.quality import QualityEstimate, estimate_quality
from dejpeg.jpeg.quant import IJG_CHROMA, IJG_LUMA, ijg_qtables, quality_to_scale, scale_qtable
from dejpeg.jpeg.transforms import RatioResult, compress_to_ratio, double_compress

__all__ = [
    "blockify",
    "deblockify",
    "pad_to_multiple",
    "SUBSAMPLING",
    "DecodedJpeg",
    "decode",
    "decode_luma",
    "read_jpeg",
    "encode",
    "jpeg_roundtrip",
    "read_qtables",
    "JpegCoefficients",
    "coefficients_in_range",
    "decode_luma_from_coefficients",
    "luma_matches",
    "read_coefficients",
    "write_coefficients",
    "RgbToYcbcrJfif",
    "YcbcrJfifToRgb",
    "rgb_to_y_bt601_u8",
    "rgb_to_ycbcr_jfif",
    "ycbcr_jfif_to_rgb",
    "ZIGZAG_ORDER",
    "Dct8x8",
    "Idct8x8",
    "dct_8x8",
    "dct_matrix",
    "idct_8x8",
    "zigzag_scan",
    "zigzag_unscan",
    "QualityEstimate",
    "estimate_quality",
    "IJG_CHROMA",
    "IJG_LUMA",
    "ijg_qtables",
    "quality_to_scale",
    "scale_qtable",
    "RatioResult",
    "compress_to_ratio",
    "double_compress",
]

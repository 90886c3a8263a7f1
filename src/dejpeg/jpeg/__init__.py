"""The JPEG format's math, apart from any file I/O (:mod:`dejpeg.codec`): block DCT, zigzag, quantization
tables and quality, colour transforms, blocks, the coefficient data type, header parsing and the DCT-domain
consistency projection."""

from dejpeg.jpeg.blocks import blockify, deblockify, pad_to_multiple
from dejpeg.jpeg.coefficients import (
    JpegCoefficients,
    coefficients_in_range,
    decode_luma_from_coefficients,
    luma_matches,
)
from dejpeg.jpeg.color import (
    RgbToYcbcrJfif,
    YcbcrJfifToRgb,
    rgb_to_y_bt601_u8,
    rgb_to_ycbcr_jfif,
    upsample_420_u8,
    ycbcr_jfif_to_rgb,
    ycbcr_u8_to_rgb_u8,
)
from dejpeg.jpeg.dct import (
    ZIGZAG_ORDER,
    Dct8x8,
    Idct8x8,
    dct_8x8,
    dct_matrix,
    dct_matrix_2d,
    idct_8x8,
    integer_idct_8x8,
    zigzag_scan,
    zigzag_unscan,
)
from dejpeg.jpeg.quantization import (
    IJG_CHROMA,
    IJG_LUMA,
    QualityEstimate,
    estimate_quality,
    ijg_qtables,
    luma_chroma_tables,
    quality_to_scale,
    scale_qtable,
)

__all__ = [
    "blockify",
    "deblockify",
    "pad_to_multiple",
    "JpegCoefficients",
    "coefficients_in_range",
    "decode_luma_from_coefficients",
    "luma_matches",
    "RgbToYcbcrJfif",
    "YcbcrJfifToRgb",
    "rgb_to_y_bt601_u8",
    "rgb_to_ycbcr_jfif",
    "ycbcr_jfif_to_rgb",
    "upsample_420_u8",
    "ycbcr_u8_to_rgb_u8",
    "ZIGZAG_ORDER",
    "Dct8x8",
    "Idct8x8",
    "dct_8x8",
    "dct_matrix",
    "dct_matrix_2d",
    "idct_8x8",
    "integer_idct_8x8",
    "zigzag_scan",
    "zigzag_unscan",
    "IJG_CHROMA",
    "IJG_LUMA",
    "QualityEstimate",
    "estimate_quality",
    "ijg_qtables",
    "luma_chroma_tables",
    "quality_to_scale",
    "scale_qtable",
]

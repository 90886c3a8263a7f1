"""Everything about the JPEG format: tables, codec, coefficients, DCT, colour."""

from dejpeg.jpeg.codec import SUBSAMPLING, decode, encode, jpeg_roundtrip, read_qtables
from dejpeg.jpeg.color import (
    RgbToYcbcrJfif,
    YcbcrJfifToRgb,
    rgb_to_y_bt601_u8,
    rgb_to_ycbcr_jfif,
    ycbcr_jfif_to_rgb,
)
from dejpeg.jpeg.quant import IJG_CHROMA, IJG_LUMA, ijg_qtables, quality_to_scale, scale_qtable

__all__ = [
    "SUBSAMPLING",
    "decode",
    "encode",
    "jpeg_roundtrip",
    "read_qtables",
    "RgbToYcbcrJfif",
    "YcbcrJfifToRgb",
    "rgb_to_y_bt601_u8",
    "rgb_to_ycbcr_jfif",
    "ycbcr_jfif_to_rgb",
    "IJG_CHROMA",
    "IJG_LUMA",
    "ijg_qtables",
    "quality_to_scale",
    "scale_qtable",
]

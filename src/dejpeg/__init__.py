"""dejpeg: neural JPEG artifact removal and the JPEG math around it.

Convention used throughout: images are float tensors ``(B, C, H, W)`` in [0, 1], RGB when C == 3,
luma when C == 1. Arrays at the I/O boundary are ``uint8`` ``(H, W)`` or ``(H, W, 3)`` (suffix ``_u8``).
Quantization tables are in raster (natural) order unless the name ends in ``_zz``.
"""

from dejpeg import codec, jpeg, metrics, models, zoo
from dejpeg.api import restore
from dejpeg.evaluation import evaluate

__version__ = "0.1.0"
__all__ = ["codec", "jpeg", "metrics", "models", "zoo", "restore", "evaluate", "__version__"]

"""The contract every restoration model follows, so one engine, one CLI and one evaluator serve all."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn


class RestorationModel(nn.Module):
    """Maps a decoded JPEG to its restoration.

    ``forward(image, qtables)``:
        image: (B, C, H, W) float in [0, 1]; C == 1 (luma/gray) or 3 (RGB). H and W are multiples of
            ``size_multiple`` (callers pad, aligned to the JPEG grid, see ``dejpeg.restore``).
        qtables: (B, 2, 8, 8) float quantization tables (luma, chroma) in raster order, the values
            written in the file (1..255); models with ``uses_qtables = False`` ignore them.
        returns: same shape as ``image``, unclamped.
    """

    #: "any": gray and RGB inputs; "gray": one channel only (RGB callers restore Y and keep chroma).
    channels: ClassVar[str] = "any"
    uses_qtables: ClassVar[bool] = False
    size_multiple: ClassVar[int] = 8

    def forward(self, image: Tensor, qtables: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

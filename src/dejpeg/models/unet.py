"""U-Net (Ronneberger et al. 2015) for JPEG artifact reduction, as used by dos Reis et al. before classification.

Contraction: per level two 3x3 conv + ReLU, then 2x2 max-pool; expansion: 2x2 transposed conv, skip
concatenation with the same level of the contraction, two 3x3 conv + ReLU; a 1x1 conv maps back to
the image channels. Convolutions are padded, so the output has the input's size. The network predicts a
residual added to the input, its last layer starting at zero, so training starts from the identity (as
every dejpeg model does). Trained per quality, it ignores the quantization tables. Train it supervised
(compressed -> original) or Noise2Noise (compressed -> another compressed copy, ``PatchConfig.target``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dejpeg.models._base import JpegSide, RestorationModel
from dejpeg.models._registry import register_model

MAX_DEPTH = 3  # 2**3 = 8 = size_multiple: the JPEG grid already makes callers pad to 8


def _double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(RestorationModel):
    """RGB U-Net; gray (C=1) inputs run as R=G=B and the output channels are averaged back to one.

    Args:
        width: channels of the first level, doubled at each deeper level.
        depth: number of 2x2 poolings, 1..3 (inputs must be multiples of ``2**depth``; 8 always is).
    """

    channels = "any"
    size_multiple = 8

    def __init__(self, width: int = 32, depth: int = 3) -> None:
        super().__init__()
        if not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"depth must be in 1..{MAX_DEPTH}, got {depth}")
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(_double_conv(c_in, c_out) for c_in, c_out in zip([3] + widths[:-2], widths[:-1]))
        self.bottom = _double_conv(widths[-2], widths[-1])
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(depth))
        self.up = nn.ModuleList(_double_conv(2 * widths[i], widths[i]) for i in range(depth))
        self.out = nn.Conv2d(width, 3, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, image: Tensor, side: JpegSide | None = None) -> Tensor:
        gray = image.shape[1] == 1
        x = image.expand(-1, 3, -1, -1) if gray else image
        if x.shape[1] != 3:
            raise ValueError(f"UNet takes 1 or 3 channels, got {image.shape[1]}")
        skips = []
        h = x
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = F.max_pool2d(h, 2)
        h = self.bottom(h)
        for i in reversed(range(len(self.up))):
            h = self.up[i](torch.cat([skips[i], self.upsample[i](h)], dim=1))
        out = x + self.out(h)
        return out.mean(dim=1, keepdim=True) if gray else out


register_model("unet", UNet, paper="Ronneberger et al. 2015; as JPEG restorer before classification: dos Reis et al.")

"""Residual-in-residual dense blocks (RRDB, Wang et al., "ESRGAN", ECCV 2018 workshops), as QGAC uses them: three
dense blocks of five 3x3 convolutions (15 in all), each convolution followed by a PReLU, no batch normalisation.

Why: dense connections let every convolution see all earlier features of its block at no depth cost, and the
scaled residuals (0.2 per dense block and around the whole) keep a deep stack near the identity at the start.

As in QGAC every convolution of a dense block outputs ``channels`` (its growth is the block's width, not ESRGAN's
32), so the k-th sees ``k * channels``. With ``groups`` the channels are that many independent groups (QGAC's
FrequencyNet: one group per DCT frequency) and the dense concatenation is made per group, so that a group's
convolution reads only its own group's earlier features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Convolutions per dense block, dense blocks per RRDB, and the residual scale of each.
CONVOLUTIONS = 5
DENSE_BLOCKS = 3
RESIDUAL_SCALE = 0.2
#: Scale of the He initialisation of every convolution (ESRGAN's; QGAC's reference code uses it too).
INIT_SCALE = 0.1


def _concat_groups(features: list[Tensor], groups: int) -> Tensor:
    """Concatenate (B, C, H, W) feature maps so that group g of the result holds group g of each, in order.

    Grouped, the result is channels-last in memory: oneDNN's grouped convolutions of a few channels per group run
    3-4x faster on it than on the default layout (forward and backward, measured on a 2-core CPU).
    """
    if groups == 1:
        return torch.cat(features, dim=1)
    last = [f.permute(0, 2, 3, 1).unflatten(3, (groups, -1)) for f in features]  # (B, H, W, groups, C / groups)
    return torch.cat(last, dim=4).flatten(3).permute(0, 3, 1, 2)


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convolutions, each reading the block's input and every earlier output; returns
    ``x + 0.2 * last``."""

    def __init__(self, channels: int, groups: int = 1) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"channels ({channels}) must be a multiple of groups ({groups})")
        self.groups = groups
        self.convs = nn.ModuleList(
            nn.Conv2d(k * channels, channels, 3, padding=1, groups=groups) for k in range(1, CONVOLUTIONS + 1)
        )
        self.activations = nn.ModuleList(nn.PReLU() for _ in range(CONVOLUTIONS))
        for conv in self.convs:  # ESRGAN's initialisation: He, scaled down, so each block starts near the identity
            nn.init.kaiming_normal_(conv.weight)
            conv.weight.data.mul_(INIT_SCALE)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for conv, activation in zip(self.convs, self.activations):
            features.append(activation(conv(_concat_groups(features, self.groups))))
        return x + RESIDUAL_SCALE * features[-1]


class RRDB(nn.Sequential):
    """Three :class:`ResidualDenseBlock` with a scaled residual around them: ``x + 0.2 * blocks(x)``.

    Args:
        channels: input and output channels (and those of every convolution).
        groups: independent channel groups (1: none).
    """

    def __init__(self, channels: int, groups: int = 1) -> None:
        super().__init__(*(ResidualDenseBlock(channels, groups) for _ in range(DENSE_BLOCKS)))

    def forward(self, x: Tensor) -> Tensor:
        return x + RESIDUAL_SCALE * super().forward(x)

"""Conditioning a network on a file's quantization tables: table features and FiLM scales and shifts.

Why: the tables say how much each frequency lost, so one network steered by them serves every quality
(blind restoration) instead of one network per quality.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dejpeg.layers.int8 import Int8Conv2d


def qtable_features(qtables: Tensor) -> Tensor:
    """(B, T, 8, 8) tables in 1..255 to (B, T*64) features in [0, 1] (log scale: quality is multiplicative)."""
    return torch.log(qtables.flatten(1).clamp(1, 255)) / math.log(255.0)


class FiLM(nn.Sequential):
    """MLP from a condition vector to a per-channel scale and shift for each of ``blocks`` residual blocks.

    Its last layer starts at zero, so a new network starts unconditioned (every scale 1 + 0, every shift 0) and
    training only adds. A ``Sequential``, so that its parameters are ``0.*`` and ``2.*`` in a state dict.
    """

    def __init__(self, cond_dim: int, blocks: int, width: int, hidden: int = 128) -> None:
        super().__init__(nn.Linear(cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, blocks * 2 * width))
        self.blocks = blocks
        nn.init.zeros_(self[-1].weight)
        nn.init.zeros_(self[-1].bias)

    def per_block(self, cond: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(B, cond_dim) -> for each residual block, its (B, width) scale offset ``gamma`` and shift ``beta``."""
        chunks = self(cond).chunk(2 * self.blocks, dim=1)
        return list(zip(chunks[0::2], chunks[1::2]))


class FiLMResBlock(nn.Module):
    """conv-ReLU-conv residual block whose residual is scaled by ``1 + gamma`` and shifted by ``beta`` per channel."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = Int8Conv2d(width, width, 3, padding=1, relu=True)
        self.conv2 = Int8Conv2d(width, width, 3, padding=1)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        return self.conv2.scaled_residual(self.conv1(x), 1 + gamma, beta, x)

"""DejpegNet: our blind, quantization-table-aware default model, designed for CPU speed.

Why this shape: JPEG damage lives on the 8x8 block grid, so most of the work runs at 1/8 resolution
on pixel-unshuffled blocks, where a wide network is cheap per pixel. The file's quantization tables
(log-scaled) steer every residual block through FiLM scales and shifts, so one network serves every
quality. Colour follows QGAC's staging: luma is
restored first, then Cb/Cr are restored with the restored luma as a guide.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dejpeg.jpeg.color import rgb_to_ycbcr_jfif, ycbcr_jfif_to_rgb
from dejpeg.models._base import RestorationModel
from dejpeg.models._registry import Weights, register_model

BLOCK = 8


def qtable_features(qtables: Tensor) -> Tensor:
    """(B, T, 8, 8) tables in 1..255 to (B, T*64) features in [0, 1] (log scale: quality is multiplicative)."""
    return torch.log(qtables.flatten(1).clamp(1, 255)) / math.log(255.0)


class FiLMResBlock(nn.Module):
    """conv-ReLU-conv residual block whose residual is scaled and shifted per channel by the condition."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x)))
        return x + h * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class BlockStage(nn.Module):
    """Restore the channels of ``x`` (optionally guided by extra channels) conditioned on ``cond``.

    Everything runs at 1/8 resolution: the input is pixel-unshuffled on the JPEG grid, and the 3x3
    entry and exit convolutions see each block with its 8 neighbours, so outputs agree across block
    boundaries. Full-resolution convolutions on few channels are memory-bound on a CPU (measured
    5-10x slower per MAC), which is why there are none.
    """

    def __init__(self, in_ch: int, guide_ch: int, cond_dim: int, width: int, blocks: int) -> None:
        super().__init__()
        self.entry = nn.Conv2d((in_ch + guide_ch) * BLOCK * BLOCK, width, 3, padding=1)
        self.body = nn.ModuleList(FiLMResBlock(width) for _ in range(blocks))
        self.exit = nn.Conv2d(width, in_ch * BLOCK * BLOCK, 3, padding=1)
        self.film = nn.Sequential(nn.Linear(cond_dim, 128), nn.ReLU(), nn.Linear(128, blocks * 2 * width))
        # Start as an unconditioned network and as the identity map: training only adds.
        for layer in (self.film[-1], self.exit):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, guide: Tensor | None, cond: Tensor) -> Tensor:
        inp = x if guide is None else torch.cat([x, guide], dim=1)
        h = self.entry(F.pixel_unshuffle(inp, BLOCK))
        film = self.film(cond).chunk(2 * len(self.body), dim=1)
        for i, block in enumerate(self.body):
            h = block(h, film[2 * i], film[2 * i + 1])
        return x + F.pixel_shuffle(self.exit(h), BLOCK)


class DejpegNet(RestorationModel):
    """Blind JPEG restoration for gray (C=1) and RGB (C=3) inputs, steered by the file's tables."""

    channels = "any"
    uses_qtables = True
    size_multiple = BLOCK

    def __init__(
        self,
        luma_width: int = 96,
        luma_blocks: int = 8,
        chroma_width: int = 64,
        chroma_blocks: int = 4,
    ) -> None:
        super().__init__()
        self.luma = BlockStage(1, 0, 64, luma_width, luma_blocks)
        # Chroma sees the decoded and the restored luma: their difference tells where edges were lost.
        self.chroma = BlockStage(2, 2, 128, chroma_width, chroma_blocks)

    def forward(self, image: Tensor, qtables: Tensor) -> Tensor:
        luma_table = qtable_features(qtables[:, :1])
        if image.shape[1] == 1:
            return self.luma(image, None, luma_table)
        if image.shape[1] != 3:
            raise ValueError(f"expected 1 or 3 channels, got {image.shape[1]}")
        ycc = rgb_to_ycbcr_jfif(image)
        y = self.luma(ycc[:, :1], None, luma_table)
        cbcr = self.chroma(ycc[:, 1:], torch.cat([ycc[:, :1], y], dim=1), qtable_features(qtables[:, :2]))
        return ycbcr_jfif_to_rgb(torch.cat([y, cbcr], dim=1))


register_model("dejpeg_net", DejpegNet, paper="dejpeg (this project)")
register_model(
    "dejpeg_net.blind_bsds300",
    DejpegNet,
    weights=Weights(
        file="dejpeg_net.blind_bsds300.safetensors",
        sha256="d66aa19cecc032a238e9de3c810cb234347f6e2ce638f16ad4ba26f1de5c12ab",
        train_data="BSDS500 train+val (300 photos), random quality 5..95 (power 2), half gray, half RGB "
        "(4:2:0/4:2:2/4:4:4), 10% double JPEG with grid shift",
        train_cmd="dejpeg train configs/dejpeg_net_blind.yaml && "
        "python -m dejpeg.zoo.export runs/dejpeg_net_blind dejpeg_net.blind_bsds300",
        steps=6500,
        wall_h=1.27,
        # benchmarks/car_table.py on BSDS500 test200 (benchmarks/results/car_bsds500_*.json)
        reported={
            "bsds500_gray_q10_psnr_gain": 0.84,
            "bsds500_gray_q20_psnr_gain": 0.70,
            "bsds500_gray_q30_psnr_gain": 0.65,
            "bsds500_gray_q40_psnr_gain": 0.62,
            "bsds500_gray_q90_psnr_gain": -0.28,
            "bsds500_color_q10_psnr_gain": 0.84,
        },
    ),
    default=True,
    paper="dejpeg (this project)",
)

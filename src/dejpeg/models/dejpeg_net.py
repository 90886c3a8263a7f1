"""DejpegNet: our blind, quantization-table-aware default model, designed for CPU speed.

Why this shape: JPEG damage lives on the 8x8 block grid, so most of the work runs at 1/8 resolution
on the blocks, where a wide network is cheap per pixel. Each block enters as its DCT coefficients
divided by the file's quantization steps and the correction leaves in the same units (``dct_io``),
so every quality looks alike to the network; the log-scaled tables also steer every residual block
through FiLM scales and shifts, so one network serves every quality. Colour follows QGAC's staging:
luma is restored first, then Cb/Cr are restored with the restored luma as a guide.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dejpeg.jpeg.color import rgb_to_ycbcr_jfif, ycbcr_jfif_to_rgb
from dejpeg.layers.block_dct import BLOCK, BlockDct, BlockIdct
from dejpeg.layers.conditioning import FiLM, FiLMResBlock, qtable_features
from dejpeg.layers.growth import widen_tensor
from dejpeg.layers.int8 import Int8Conv2d
from dejpeg.models._base import JpegSide, RestorationModel, SteeredTables
from dejpeg.models._registry import register_model


def exact(reference: Tensor) -> torch.autocast:
    """Context that turns a caller's autocast off: for colour and DCT transforms, which bf16 would round
    to about 1/256 of their value (a visible loss at high qualities)."""
    return torch.autocast(reference.device.type, enabled=False)


class BlockStage(nn.Module):
    """Restore the channels of ``x`` (optionally guided by extra channels) conditioned on ``cond``.

    Everything runs at 1/8 resolution: the input is pixel-unshuffled on the JPEG grid, and the 3x3
    entry and exit convolutions see each block with its 8 neighbours, so outputs agree across block
    boundaries. Full-resolution convolutions on few channels are memory-bound on a CPU (measured
    5-10x slower per MAC), which is why there are none.

    With ``dct_io`` the blocks enter as DCT coefficients divided by their quantization steps (the
    scale of what the file lost) and the correction leaves as coefficients in units of those steps,
    so one network sees similar numbers at every quality and cannot make large changes where the
    steps are small (high qualities). Without it, raw pixels go in and come out.
    """

    def __init__(self, in_ch: int, guide_ch: int, cond_dim: int, width: int, blocks: int, dct_io: bool) -> None:
        super().__init__()
        self.dct_io = dct_io
        self.entry = nn.Conv2d((in_ch + guide_ch) * BLOCK * BLOCK, width, 3, padding=1)
        self.body = nn.ModuleList(FiLMResBlock(width) for _ in range(blocks))
        # The entry stays float: its inputs (coefficients / steps) differ too much in scale for one int8 range.
        self.exit = Int8Conv2d(width, in_ch * BLOCK * BLOCK, 3, padding=1)
        # Starts unconditioned (zero FiLM) and as the identity map (zero exit): training only adds.
        self.film = FiLM(cond_dim, blocks, width)
        nn.init.zeros_(self.exit.weight)
        nn.init.zeros_(self.exit.bias)
        # Coefficients of 255 * pixel - 128, and the pixel change that a change of coefficients makes.
        self.dct = BlockDct(level_shift=True)
        self.idct = BlockIdct(level_shift=True, delta=True)

    def _analyse(self, planes: Tensor, steps: Tensor) -> Tensor:
        """(B, C, H, W) in [0, 1] -> (B, C*64, H/8, W/8): coefficients / step, or raw block pixels."""
        if not self.dct_io:
            return F.pixel_unshuffle(planes, BLOCK)
        coefficients = self.dct(planes)
        b, _, h, w = coefficients.shape
        return (coefficients.view(b, -1, BLOCK * BLOCK, h, w) / steps[:, :, :, None, None]).reshape(b, -1, h, w)

    def _synthesise(self, correction: Tensor, steps: Tensor) -> Tensor:
        """Inverse of :meth:`_analyse` for the exit's output: (B, C*64, H/8, W/8) -> (B, C, H, W)."""
        if not self.dct_io:
            return F.pixel_shuffle(correction, BLOCK)
        b, _, h, w = correction.shape
        coefficients = correction.view(b, -1, BLOCK * BLOCK, h, w) * steps[:, :, :, None, None]
        return self.idct(coefficients.view(b, -1, h, w))

    def forward(self, x: Tensor, guide: Tensor | None, cond: Tensor, steps: Tensor, guide_steps: Tensor) -> Tensor:
        """``steps``/``guide_steps``: (B, C, 64) raster quantization steps of each channel of x / guide.

        Under a bf16 autocast only the convolutions and FiLM run in bf16: the transforms and the skip
        stay in fp32, so the output keeps full precision where the correction is small.
        """
        with exact(x):
            inp = self._analyse(x, steps)
            if guide is not None:
                inp = torch.cat([inp, self._analyse(guide, guide_steps)], dim=1)
        # Channels-last through the body: oneDNN's own layout (fp32 3x3 convolutions 1.5x faster on an AVX512
        # Xeon), the one int8 convolutions answer in, and elementwise ops that mix layouts run 5x slower.
        h = self.entry(inp.contiguous(memory_format=torch.channels_last))
        for block, (gamma, beta) in zip(self.body, self.film.per_block(cond)):
            h = block(h, gamma, beta)
        correction = self.exit(h)
        with exact(x):
            return x + self._synthesise(correction.float().contiguous(), steps)


class DejpegNet(RestorationModel):
    """Blind JPEG restoration for gray (C=1) and RGB (C=3) inputs, steered by the file's tables."""

    channels = "any"
    side_info = frozenset({"qtables"})
    size_multiple = BLOCK
    autocast_safe = True

    def __init__(
        self,
        luma_width: int = 96,
        luma_blocks: int = 8,
        chroma_width: int = 64,
        chroma_blocks: int = 4,
        conditioned: bool = True,
        dct_io: bool = True,
    ) -> None:
        super().__init__()
        # Unconditioned (ablation): the FiLM nets see zeros, i.e. a learned constant scale/shift.
        self.conditioned = conditioned
        self.luma = BlockStage(1, 0, 64, luma_width, luma_blocks, dct_io)
        # Chroma sees the decoded and the restored luma: their difference tells where edges were lost.
        self.chroma = BlockStage(2, 2, 128, chroma_width, chroma_blocks, dct_io)

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        qtables = side.qtables
        if not self.conditioned:
            qtables = torch.ones_like(qtables)  # log(1) = 0: no information about the tables
        luma_table = qtable_features(qtables[:, :1])
        steps = qtables.flatten(2).clamp(min=1)  # (B, 2, 64): luma, chroma
        luma_steps = steps[:, :1]
        if image.shape[1] == 1:
            return self.luma(image, None, luma_table, luma_steps, luma_steps)
        if image.shape[1] != 3:
            raise ValueError(f"expected 1 or 3 channels, got {image.shape[1]}")
        with exact(image):
            ycc = rgb_to_ycbcr_jfif(image)
        y = self.luma(ycc[:, :1], None, luma_table, luma_steps, luma_steps)
        guide = torch.cat([ycc[:, :1], y], dim=1)
        chroma_steps = steps[:, 1:].expand(-1, 2, -1)
        cbcr = self.chroma(
            ycc[:, 1:], guide, qtable_features(qtables[:, :2]), chroma_steps, luma_steps.expand(-1, 2, -1)
        )
        with exact(image):
            return ycbcr_jfif_to_rgb(torch.cat([y, cbcr], dim=1))

    def with_strength(self, strength: float) -> RestorationModel:
        """Told finer tables than the file's, the network takes the damage for smaller and changes less; told coarser
        ones, it smooths more (in coefficient units of the coarser steps)."""
        return SteeredTables(self, strength)

    def load_smaller_state(self, state: dict[str, Tensor]) -> None:
        """Warm-start from a DejpegNet with narrower stages and/or fewer residual blocks per stage (see
        ``widen_tensor``). Extra blocks are appended with a zero second convolution and zero FiLM: each starts
        as the identity, so the larger model computes exactly what the smaller one did."""
        own = self.state_dict()
        stages = (("luma", self.luma), ("chroma", self.chroma))
        old_blocks = {
            name: len({key.split(".")[2] for key in state if key.startswith(f"{name}.body.")}) for name, _ in stages
        }
        new_block_keys = {
            key
            for name, stage in stages
            for key in own
            if key.startswith(f"{name}.body.") and int(key.split(".")[2]) >= old_blocks[name]
        }
        if set(state) != set(own) - new_block_keys:
            raise ValueError("the smaller model must be this architecture with fewer channels or trailing blocks")
        # The FiLM output layer emits one scale and one shift chunk per residual block: each chunk grows, and a
        # deeper model has more of them (the new ones zero, from FiLM's zero initialisation).
        groups = {
            f"{name}.film.{len(stage.film) - 1}.{param}": (2 * len(stage.body), 2 * old_blocks[name])
            for name, stage in stages
            for param in ("weight", "bias")
        }
        grown = {
            name: fresh.detach().clone()
            if name in new_block_keys
            else widen_tensor(state[name].to(fresh), fresh, *groups.get(name, (1, 1)))
            for name, fresh in own.items()
        }
        for name in new_block_keys:
            if ".conv2." in name:
                grown[name].zero_()
        self.load_state_dict(grown)


register_model("dejpeg_net", DejpegNet, paper="dejpeg (this project)")
# The shipped variants: coefficients in and out (dct_io), luma stage width; chroma 64 wide, 8 + 4 blocks.
register_model("dejpeg_net_dct_w160", DejpegNet, {"luma_width": 160}, paper="dejpeg (this project)")
register_model("dejpeg_net_dct_w192", DejpegNet, {"luma_width": 192}, paper="dejpeg (this project)")

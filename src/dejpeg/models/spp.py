"""FFmpeg's simple post-processing filter (``spp``, Nosratinia's re-application of JPEG) on the file's own tables.

Why: the classical anchor that needs no training. A decoded JPEG is smooth inside its blocks and jumps at their
edges; the same image cut on a shifted 8x8 grid has those jumps inside its blocks, where they show up as small
high-frequency coefficients. Thresholding every shifted copy's block DCT with the file's quantization steps and
averaging the copies removes what none of the grids can tell from quantization noise, and keeps the rest.

Semantics (FFmpeg ``libavfilter/vf_spp.c``): ``level`` L in 1..6 averages 2**L grid shifts (FFmpeg's ``quality``,
default 3; 6 = all 64, FFmpeg's level 0 switches the filter off); the shifts of each level are FFmpeg's, spread
over the 8x8 offsets. The plane is mirrored by 8 pixels on every side (edge pixel repeated), so that every shift
tiles it with whole blocks; shift (0, 0) is the file's own grid. In each block the DC is kept and an AC
coefficient ``c`` with threshold ``t``: hard, kept if ``|c| >= t``, else zeroed; soft, shrunk to
``sign(c) max(|c| - t, 0)``. FFmpeg uses one threshold per block, ``2 qp`` in orthonormal DCT units, where for a
JPEG ``qp = max(Q[0,1], Q[1,0]) / 2``: the step of the lowest AC coefficients. Here every coefficient gets its own,
``t_ij = strength * Q_ij`` from the file's table, so that coarsely quantized high frequencies are thresholded as
coarsely as the encoder quantized them. Hard's default ``strength`` 1/2 is the dead zone of re-quantization
(what re-applying the file's tables would zero, as in Nosratinia's method); a whole step (FFmpeg's rule carried
over) over-smooths: PSNR gains on two Kodak photos (gray, 16 shifts) at Q10 / Q20 of -0.08 / -0.32 dB at 1,
+0.60 / +0.43 at 1/2, +0.65 / +0.54 at 0.35. Soft thresholding shrinks every kept coefficient too, so its
threshold is smaller: 0.15 (+0.64 / +0.51; 0.25: +0.44 / +0.23), chosen on those Kodak photos, not on the BSDS500
test images.

Colour is filtered per JFIF YCbCr plane at full resolution, Y with the luma table and Cb, Cr with the chroma table
(for subsampled files the chroma steps then apply to the upsampled planes: an approximation). Every level costs
what level 6 costs (all windows are transformed, the level masks them), and memory is 64 floats per pixel of the
plane being filtered (0.3 GiB for a 1152 x 1152 tile).
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from dejpeg.jpeg.color import rgb_to_ycbcr_jfif, ycbcr_jfif_to_rgb
from dejpeg.layers.block_dct import block_dct_weights
from dejpeg.models._base import JpegSide, RestorationModel
from dejpeg.models._registry import register_model

#: The (dy, dx) grid shifts FFmpeg averages at each level: 2**level of the 64, spread evenly.
SHIFTS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((0, 0), (4, 4)),
    2: ((0, 0), (2, 2), (4, 6), (6, 4)),
    3: tuple((i, 5 * i % 8) for i in range(8)),
    4: tuple((i // 2, (4 * (i % 2) + (0, 1, 3, 2)[i // 2 % 4]) % 8) for i in range(16)),
    5: tuple((2 * (i % 4) + i // 4 % 2, i // 4) for i in range(32)),
    6: tuple((dy, dx) for dy in range(8) for dx in range(8)),
}
#: The thresholding modes and their default ``strength`` (see the module's docstring).
DEFAULT_STRENGTH = {"hard": 0.5, "soft": 0.15}
#: Pixels mirrored on each side, so that every shifted grid covers the plane with whole blocks.
MARGIN = 8


def _mirror(planes: Tensor) -> Tensor:
    """Pad by :data:`MARGIN` on every side with the edge pixel repeated (``abc|cba``), as FFmpeg does."""
    m = MARGIN
    planes = torch.cat([planes[..., :m, :].flip(-2), planes, planes[..., -m:, :].flip(-2)], dim=-2)
    return torch.cat([planes[..., :m].flip(-1), planes, planes[..., -m:].flip(-1)], dim=-1)


class SimplePostprocessing(RestorationModel):
    """FFmpeg's ``spp`` with the file's quantization tables as thresholds; nothing to train.

    Args:
        level: 1..6, averages ``2 ** level`` grid shifts.
        mode: "hard" or "soft" thresholding.
        strength: threshold of each AC coefficient in steps of its quantization table entry; None: the
            mode's default (:data:`DEFAULT_STRENGTH`).
    """

    channels: ClassVar[str] = "any"
    side_info: ClassVar[frozenset[str]] = frozenset({"qtables"})

    def __init__(self, level: int = 6, mode: str = "hard", strength: float | None = None) -> None:
        super().__init__()
        if level not in SHIFTS:
            raise ValueError(f"level must be one of {sorted(SHIFTS)}, got {level}")
        if mode not in DEFAULT_STRENGTH:
            raise ValueError(f"mode must be one of {tuple(DEFAULT_STRENGTH)}, got {mode!r}")
        strength = DEFAULT_STRENGTH[mode] if strength is None else strength
        if not strength > 0:
            raise ValueError(f"strength must be positive, got {strength}")
        self.level, self.mode, self.strength = level, mode, strength

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        colour = image.shape[1] == 3
        planes = (rgb_to_ycbcr_jfif(image) if colour else image) * 255.0 - 128.0
        # One table per plane: luma for Y (and gray), chroma for Cb and Cr; the DC is never thresholded.
        tables = side.qtables[:, [0, 1, 1]] if colour else side.qtables[:, :1]
        thresholds = (self.strength * tables).flatten(2).clone()
        thresholds[..., 0] = 0.0
        height, width = planes.shape[-2:]
        kernel = block_dct_weights(dtype=planes.dtype)[0]
        # Every 8x8 window of the mirrored plane at once (a stride-1 convolution: 4x faster than a loop over the
        # shifts); the window at (i, j) is a block of the grid shifted by (i % 8, j % 8), so the level's shifts
        # are the windows on a periodic mask.
        grid = torch.zeros(8, 8, dtype=planes.dtype, device=planes.device)
        grid[tuple(zip(*SHIFTS[self.level]))] = 1.0
        mask = grid.repeat((height + 2 * MARGIN) // 8, (width + 2 * MARGIN) // 8)[: height + 9, : width + 9]
        restored = torch.empty_like(planes)
        for b, c in itertools.product(range(planes.shape[0]), range(planes.shape[1])):  # bounds the memory
            windows = F.conv2d(_mirror(planes[b, c])[None, None], kernel)[0]
            keep = mask if self.mode == "hard" else windows.sign().mul_(mask)
            threshold = thresholds[b, c].to(planes.dtype)[:, None, None]
            if self.mode == "hard":
                windows.mul_((windows.abs() >= threshold) * keep)
            else:
                windows = windows.abs().sub_(threshold).clamp_min_(0.0).mul_(keep)
            total = F.conv_transpose2d(windows[None], kernel)[0, 0]
            restored[b, c] = total[MARGIN : MARGIN + height, MARGIN : MARGIN + width] / len(SHIFTS[self.level])
        restored = (restored + 128.0) / 255.0
        return ycbcr_jfif_to_rgb(restored) if colour else restored


_USE = "any JPEG, no training: FFmpeg's spp filter on the file's tables (classical baseline)"
register_model("spp", SimplePostprocessing, paper="Nosratinia 2001; FFmpeg vf_spp", use=_USE, needs_weights=False)
register_model(
    "spp_soft",
    SimplePostprocessing,
    {"mode": "soft"},
    paper="Nosratinia 2001; FFmpeg vf_spp",
    use=_USE.replace("spp filter", "spp filter (soft thresholding)"),
    needs_weights=False,
)

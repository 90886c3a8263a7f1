"""The JPEG block DCT of whole planes as network layers: every 8x8 block becomes 64 channels at 1/8 resolution.

Why: DCT-domain models (DejpegNet's ``dct_io``, QGAC) see each block as its coefficients, the numbers a JPEG
file quantizes. One 8x8 stride-8 convolution with the 64 basis images as filters computes them for every block
at once (3.6x faster on a CPU than unshuffling the blocks and multiplying by the 64x64 basis). The basis is
:func:`dejpeg.jpeg.dct.dct_matrix_2d`; channels are in raster frequency order (``8 * vertical + horizontal``).

With ``level_shift`` the planes are in [0, 1] and the coefficients are those of ``255 * x - 128``, as a JPEG
encoder computes them before quantization. Both directions turn a caller's autocast off: bf16 would round the
coefficients to about 1/256 of their value, a visible loss at high qualities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dejpeg.jpeg.dct import dct_matrix_2d

BLOCK = 8


def block_dct_weights(level_shift: bool = False, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor | None]:
    """The convolution that :func:`block_dct` runs: (64, 1, 8, 8) filters and the bias (None without a level
    shift). The level shift only moves the DC term, so it is the bias."""
    basis = dct_matrix_2d(dtype)
    if not level_shift:
        return basis.view(BLOCK * BLOCK, 1, BLOCK, BLOCK), None
    return (255.0 * basis).view(BLOCK * BLOCK, 1, BLOCK, BLOCK), -128.0 * basis.sum(dim=1)


def _check_grid(x: Tensor, what: str) -> None:
    if x.dim() != 4 or x.shape[-2] % BLOCK or x.shape[-1] % BLOCK:
        raise ValueError(f"expected (B, C, H, W) {what} with H and W multiples of 8, got {tuple(x.shape)}")


def _block_dct(planes: Tensor, kernel: Tensor, bias: Tensor | None) -> Tensor:
    _check_grid(planes, "planes")
    b, c, height, width = planes.shape
    with torch.autocast(planes.device.type, enabled=False):
        coefficients = F.conv2d(planes.reshape(b * c, 1, height, width), kernel, bias, stride=BLOCK)
    return coefficients.view(b, c * BLOCK * BLOCK, height // BLOCK, width // BLOCK)


def _block_idct(coefficients: Tensor, basis: Tensor, level_shift: bool, delta: bool) -> Tensor:
    b, channels, h, w = coefficients.shape
    if channels % (BLOCK * BLOCK):
        raise ValueError(f"expected (B, C*64, H/8, W/8) coefficients, got {tuple(coefficients.shape)}")
    with torch.autocast(coefficients.device.type, enabled=False):
        pixels = torch.einsum("uk,bcuhw->bckhw", basis, coefficients.view(b, -1, BLOCK * BLOCK, h, w))
    pixels = pixels.reshape(b, channels, h, w)
    if level_shift:
        pixels = pixels / 255.0 if delta else (pixels + 128.0) / 255.0
    return F.pixel_shuffle(pixels, BLOCK)


def block_dct(planes: Tensor, level_shift: bool = False) -> Tensor:
    """(B, C, H, W) planes, H and W multiples of 8 -> (B, C*64, H/8, W/8): each block's DCT coefficients,
    channel ``64 * c + 8 * vertical + horizontal`` (float64 planes give float64 coefficients)."""
    return _block_dct(planes, *block_dct_weights(level_shift, planes.dtype))


def block_idct(coefficients: Tensor, level_shift: bool = False, delta: bool = False) -> Tensor:
    """Inverse of :func:`block_dct`: (B, C*64, H/8, W/8) -> (B, C, H, W).

    ``delta``: the coefficients are a change (a network's correction), so only the linear part is inverted: the
    level shift's -128 is not undone, only its 255 scale.
    """
    return _block_idct(coefficients, dct_matrix_2d(coefficients.dtype), level_shift, delta)


class BlockDct(nn.Module):
    """Module form of :func:`block_dct`; its float32 filters are buffers, built once and moved with the module."""

    def __init__(self, level_shift: bool = False) -> None:
        super().__init__()
        kernel, bias = block_dct_weights(level_shift)
        self.register_buffer("kernel", kernel, persistent=False)
        self.register_buffer("bias", bias, persistent=False)

    def forward(self, planes: Tensor) -> Tensor:
        return _block_dct(planes, self.kernel, self.bias)


class BlockIdct(nn.Module):
    """Module form of :func:`block_idct`."""

    def __init__(self, level_shift: bool = False, delta: bool = False) -> None:
        super().__init__()
        self.level_shift = level_shift
        self.delta = delta
        self.register_buffer("basis", dct_matrix_2d(), persistent=False)

    def forward(self, coefficients: Tensor) -> Tensor:
        return _block_idct(coefficients, self.basis, self.level_shift, self.delta)

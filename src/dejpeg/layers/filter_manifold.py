"""Convolutional Filter Manifolds (Ehrlich et al., "Quantization Guided JPEG Artifact Correction", ECCV 2020): an
8x8 stride-8 convolution over the JPEG block grid whose weights a small network generates from the file's
quantization table, one set of weights per image.

Why: how much each frequency of a block was damaged is written in the table, so the filters that read (or write)
a block's coefficients should depend on it; generating them lets one network serve every quality and every table.

Layout: blocks as :func:`dejpeg.layers.block_dct.block_dct` gives them, (B, C*64, rows, cols) with channel
``64 * c + 8 * vertical + horizontal``. On that layout an 8x8 stride-8 convolution of the blocks (as images) is a
matrix product per block position, so a batch with a different kernel per image is one batched matrix product
(no loop over the images); :meth:`ConvolutionalFilterManifold.kernels` gives the kernels as ``F.conv2d`` takes them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

BLOCK = 8
FREQUENCIES = BLOCK * BLOCK


class ConvolutionalFilterManifold(nn.Module):
    """An 8x8 stride-8 convolution (or its transpose) with weights generated from a quantization table.

    The generator is three layers: an 8x8 convolution reads the whole table into ``manifold_channels`` features
    (a PReLU, a 1x1 convolution, a PReLU), then an 8x8 transposed convolution spreads them into the
    ``out_channels x in_channels`` kernels of 8x8, and a 1x1 convolution gives the ``out_channels`` biases.

    Args:
        in_channels: channels of the input: block maps (``transposed``) or blocks of 64 coefficients.
        out_channels: channels of the output: block maps, or (``transposed``) blocks of 64 coefficients.
        transposed: False: (B, in*64, rows, cols) blocks -> (B, out, rows, cols) maps; True: (B, in, rows, cols)
            maps -> (B, out*64, rows, cols) blocks, the transposed convolution, whose bias is one per output
            channel (added to its 64 coefficients alike) as ``F.conv_transpose2d`` adds it.
        manifold_channels: width of the generator.
    """

    def __init__(self, in_channels: int, out_channels: int, transposed: bool = False, manifold_channels: int = 64):
        super().__init__()
        self.in_channels, self.out_channels, self.transposed = in_channels, out_channels, transposed
        self.manifold = nn.Sequential(
            nn.Conv2d(1, manifold_channels, BLOCK),
            nn.PReLU(),
            nn.Conv2d(manifold_channels, manifold_channels, 1),
            nn.PReLU(),
        )
        self.weight_generator = nn.ConvTranspose2d(manifold_channels, out_channels * in_channels, BLOCK)
        self.bias_generator = nn.Conv2d(manifold_channels, out_channels, 1)
        self._initialise()

    def _initialise(self) -> None:
        """Kernels that start at PyTorch's default scale for the convolution they make, whatever the table.

        The generator's hidden features start at 1 (the bias of its second layer) plus the table's He-initialised
        contribution, and the weight generator's weights at a standard deviation of ``1 / sqrt(fan_in *
        manifold_channels)``, so the kernels start with a standard deviation of about ``1 / sqrt(fan_in)`` (fan_in:
        ``in_channels * 64``, or ``in_channels`` for the transposed convolution). He initialisation throughout
        would make them scale with the table's entries and with the product of three layers' gains, down to
        1e-5 for the reference code's (He scaled by 0.1) and high qualities, where nothing reaches the next layer.
        """
        first, _, second, _ = self.manifold
        for conv in (first, second):
            nn.init.kaiming_normal_(conv.weight)
            nn.init.zeros_(conv.bias)
        nn.init.ones_(second.bias)
        fan_in = self.in_channels * (1 if self.transposed else FREQUENCIES)
        nn.init.normal_(self.weight_generator.weight, std=(fan_in * self.weight_generator.in_channels) ** -0.5)
        for layer in (self.weight_generator, self.bias_generator):
            nn.init.zeros_(layer.bias)
        nn.init.zeros_(self.bias_generator.weight)

    def kernels(self, table: Tensor) -> tuple[Tensor, Tensor]:
        """The generated convolution of each image.

        Args:
            table: (B, 8, 8) quantization table scaled to [0, 1] (entries / 255).

        Returns:
            (B, out, in, 8, 8) kernels (``F.conv2d``'s (out, in, kH, kW) per image; for the transposed convolution
            ``F.conv_transpose2d`` takes each image's ``kernels.transpose(0, 1)``, (in, out, kH, kW)), and (B, out)
            biases.
        """
        if table.dim() != 3 or table.shape[1:] != (BLOCK, BLOCK):
            raise ValueError(f"expected (B, 8, 8) tables, got {tuple(table.shape)}")
        features = self.manifold(table[:, None])  # (B, manifold, 1, 1)
        weights = self.weight_generator(features).view(-1, self.out_channels, self.in_channels, BLOCK, BLOCK)
        return weights, self.bias_generator(features).flatten(1)

    def forward(self, table: Tensor, x: Tensor) -> Tensor:
        """``x`` in the layout of ``transposed`` (see the class); ``table`` (B, 8, 8) in [0, 1]."""
        weights, bias = self.kernels(table)
        batch, _, rows, cols = x.shape
        weights = weights.flatten(3)  # (B, out, in, 64)
        if not self.transposed:
            if x.shape[1] != self.in_channels * FREQUENCIES:
                raise ValueError(f"expected (B, {self.in_channels * FREQUENCIES}, rows, cols), got {tuple(x.shape)}")
            out = torch.bmm(weights.flatten(2), x.flatten(2))  # (B, out, rows * cols)
            return (out + bias[:, :, None]).view(batch, self.out_channels, rows, cols)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, rows, cols), got {tuple(x.shape)}")
        out = torch.bmm(weights.transpose(2, 3).flatten(1, 2), x.flatten(2))  # (B, out * 64, rows * cols)
        out = out.view(batch, self.out_channels, FREQUENCIES, rows * cols) + bias[:, :, None, None]
        return out.view(batch, self.out_channels * FREQUENCIES, rows, cols)

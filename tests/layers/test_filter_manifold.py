"""Convolutional filter manifolds: the batched product is, per image, the 8x8 stride-8 convolution (and its
transpose) with the kernels generated from that image's table."""

import pytest
import torch
import torch.nn.functional as F

from dejpeg.jpeg import ijg_qtables
from dejpeg.layers.filter_manifold import ConvolutionalFilterManifold


def _tables() -> torch.Tensor:
    """Three different luma tables (Q10, Q50, Q90) scaled to [0, 1]."""
    return torch.stack([torch.from_numpy(ijg_qtables(q)[0]) for q in (10, 50, 90)]).double() / 255.0


def _manifold(in_channels: int, out_channels: int, transposed: bool) -> ConvolutionalFilterManifold:
    torch.manual_seed(0)
    return ConvolutionalFilterManifold(in_channels, out_channels, transposed, manifold_channels=8).double()


def test_equals_an_explicit_convolution_per_image():
    cfm = _manifold(2, 5, transposed=False)
    tables = _tables()
    blocks = torch.randn(3, 2 * 64, 4, 6, dtype=torch.float64)
    out = cfm(tables, blocks)
    kernels, biases = cfm.kernels(tables)
    assert kernels.shape == (3, 5, 2, 8, 8) and biases.shape == (3, 5)
    images = F.pixel_shuffle(blocks, 8)  # each block's 64 coefficients as an 8x8 tile of a (3, 2, 32, 48) image
    for b in range(3):
        expected = F.conv2d(images[b : b + 1], kernels[b], biases[b], stride=8)
        torch.testing.assert_close(out[b : b + 1], expected, rtol=0, atol=1e-12)


def test_transposed_equals_an_explicit_transposed_convolution_per_image():
    cfm = _manifold(5, 2, transposed=True)
    tables = _tables()
    maps = torch.randn(3, 5, 4, 6, dtype=torch.float64)
    out = cfm(tables, maps)
    assert out.shape == (3, 2 * 64, 4, 6)
    kernels, biases = cfm.kernels(tables)  # (B, out=2, in=5, 8, 8)
    for b in range(3):
        expected = F.conv_transpose2d(maps[b : b + 1], kernels[b].transpose(0, 1), biases[b], stride=8)
        torch.testing.assert_close(out[b : b + 1], F.pixel_unshuffle(expected, 8), rtol=0, atol=1e-12)


def test_the_table_steers_the_kernels():
    kernels, _ = _manifold(1, 3, transposed=False).kernels(_tables())
    assert (kernels[0] - kernels[1]).abs().max() > 1e-3 * kernels.abs().max()


def test_shapes_are_checked():
    cfm = _manifold(2, 3, transposed=False)
    with pytest.raises(ValueError, match="8, 8"):
        cfm(torch.rand(2, 4, 4, dtype=torch.float64), torch.rand(2, 128, 1, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="128"):
        cfm(_tables(), torch.rand(3, 64, 1, 1, dtype=torch.float64))

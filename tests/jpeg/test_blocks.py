"""8x8 block grid helpers."""

from __future__ import annotations

import pytest
import torch

from dejpeg.jpeg import blockify, deblockify, pad_to_multiple


def test_blockify_matches_slicing() -> None:
    x = torch.randn(2, 3, 16, 24)
    blocks = blockify(x)
    assert blocks.shape == (2, 3, 2, 3, 8, 8)
    for i in range(2):
        for j in range(3):
            assert torch.equal(blocks[:, :, i, j], x[:, :, 8 * i : 8 * i + 8, 8 * j : 8 * j + 8])


def test_deblockify_inverts() -> None:
    x = torch.randn(1, 2, 24, 8)
    assert torch.equal(deblockify(blockify(x)), x)


def test_blockify_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        blockify(torch.zeros(1, 1, 12, 16))
    with pytest.raises(ValueError):
        blockify(torch.zeros(16, 16))
    with pytest.raises(ValueError):
        deblockify(torch.zeros(1, 1, 2, 2, 4, 4))


def test_pad_replicates_bottom_right() -> None:
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)
    before = x.clone()
    padded, size = pad_to_multiple(x, 4)
    assert size == (3, 5)
    assert padded.shape == (1, 2, 4, 8)
    assert torch.equal(padded[..., :3, :5], x)  # original stays top-left
    assert torch.equal(padded[..., 3, :5], x[..., 2, :])  # last row repeated
    assert torch.equal(padded[..., :3, 5:], x[..., :, 4:5].expand(1, 2, 3, 3))  # last column
    assert torch.equal(padded[..., 3:, 5:], x[..., 2:3, 4:5].expand(1, 2, 1, 3))  # corner
    assert torch.equal(x, before)


def test_pad_noop_and_any_leading_dims() -> None:
    x = torch.randn(7, 16, 8)
    padded, size = pad_to_multiple(x, 8)
    assert size == (16, 8) and torch.equal(padded, x)
    gray, size = pad_to_multiple(torch.randn(9, 9), 8)
    assert gray.shape == (16, 16) and size == (9, 9)


def test_pad_rejects_bad_multiple() -> None:
    with pytest.raises(ValueError):
        pad_to_multiple(torch.zeros(1, 1, 8, 8), 0)

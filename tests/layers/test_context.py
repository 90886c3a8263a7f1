"""Block windows and causal contexts against plain loops over the blocks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dejpeg.layers import blocks_with_context, causal_context, fold_blocks, wavefront


def _loop_windows(image: torch.Tensor, context: int, mode: str) -> torch.Tensor:
    pad = 8 * context
    padded = F.pad(image, (pad,) * 4, mode=mode)
    b, _, h, w = image.shape
    size = 8 * (2 * context + 1)
    windows = [
        padded[n, :, 8 * i : 8 * i + size, 8 * j : 8 * j + size]
        for n in range(b)
        for i in range(h // 8)
        for j in range(w // 8)
    ]
    return torch.stack(windows)


def _loop_causal(image: torch.Tensor, positions: torch.Tensor, fill: float) -> torch.Tensor:
    """Each block of the 2 x 3 window copied one by one, ``fill`` outside the image or not yet decoded."""
    b, c, h, w = image.shape
    out = []
    for n in range(b):
        for i, j in positions.tolist():
            window = torch.full((c, 16, 24), fill)
            for di, dj in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
                r, q = i + di, j + dj
                if 0 <= r < h // 8 and 0 <= q < w // 8:
                    window[:, 8 * (di + 1) : 8 * (di + 2), 8 * (dj + 1) : 8 * (dj + 2)] = image[
                        n, :, 8 * r : 8 * r + 8, 8 * q : 8 * q + 8
                    ]
            out.append(window)
    return torch.stack(out)


@pytest.mark.parametrize("context", [0, 1, 2])
@pytest.mark.parametrize("mode", ["replicate", "constant"])
def test_blocks_with_context_matches_a_loop(context, mode):
    image = torch.rand(2, 3, 24, 40)
    got = blocks_with_context(image, context, mode)
    assert got.shape == (2 * 3 * 5, 3, 8 * (2 * context + 1), 8 * (2 * context + 1))
    torch.testing.assert_close(got, _loop_windows(image, context, mode), atol=0, rtol=0)


def test_fold_blocks_inverts_the_window_order():
    image = torch.rand(2, 3, 24, 40)
    centres = blocks_with_context(image, context=1)[:, :, 8:16, 8:16]
    torch.testing.assert_close(fold_blocks(centres, 3, 5), image, atol=0, rtol=0)
    with pytest.raises(ValueError, match="8, 8"):
        fold_blocks(torch.rand(14, 1, 8, 8), 3, 5)


def test_wavefront_covers_every_block_once_after_its_context():
    rows, cols = 4, 5
    groups = wavefront(rows, cols)
    order = {}
    for t, group in enumerate(groups):
        for i, j in group.tolist():
            assert (i, j) not in order
            order[i, j] = t
    assert len(order) == rows * cols
    for (i, j), t in order.items():
        for r, q in ((i - 1, j - 1), (i - 1, j), (i - 1, j + 1), (i, j - 1)):
            if (r, q) in order:
                assert order[r, q] < t
    assert [len(g) for g in wavefront(3, 1)] == [1, 1, 1]  # one column: odd diagonals are empty, left out


@pytest.mark.parametrize("fill", [0.0, 0.5])
def test_causal_context_matches_a_loop_and_reads_only_decoded_blocks(fill):
    torch.manual_seed(0)
    image = torch.rand(2, 3, 32, 40)
    rows, cols = 4, 5
    step = torch.arange(rows).repeat_interleave(8)[:, None] * 2 + torch.arange(cols).repeat_interleave(8)[None, :]
    for positions in wavefront(rows, cols):
        got = causal_context(image, positions, fill)
        assert got.shape == (2 * len(positions), 3, 16, 24)
        torch.testing.assert_close(got, _loop_causal(image, positions, fill), atol=0, rtol=0)
        # Blocks on this diagonal or later (not decoded yet) may hold anything.
        t = 2 * positions[0, 0] + positions[0, 1]
        scrambled = torch.where(step >= t, torch.rand_like(image), image)
        torch.testing.assert_close(causal_context(scrambled, positions, fill), got, atol=0, rtol=0)


def test_causal_context_refuses_positions_off_the_grid():
    image = torch.rand(1, 1, 16, 16)
    for bad in ([[0, 2]], [[-1, 0]], [[0, 0, 0]]):
        with pytest.raises(ValueError):
            causal_context(image, torch.tensor(bad))


def test_causal_context_is_differentiable():
    image = torch.rand(1, 1, 16, 24, requires_grad=True)
    causal_context(image, torch.tensor([[1, 1]])).sum().backward()
    # Top-left, top, top-right and left blocks receive gradient; the current and later blocks none.
    expected = torch.zeros(2, 3)
    expected[0, :] = 1
    expected[1, 0] = 1
    per_block = image.grad[0, 0].unflatten(0, (2, 8)).unflatten(2, (3, 8)).sum(dim=(1, 3)) / 64
    torch.testing.assert_close(per_block, expected)

"""SSIM against scikit-image, and its use as a differentiable loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from dejpeg.metrics import ssim, ssim_loss, ssim_map


def _skimage_ssim(a: np.ndarray, b: np.ndarray, channel_axis: int | None = None) -> float:
    # skimage filters the whole image (reflect padding) then averages after cropping
    # (win_size - 1) // 2 = 5 pixels per side: exactly the windows that lie inside the image,
    # i.e. our valid region, so the two agree to rounding.
    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=channel_axis,
    )


def _images(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Smooth content plus noise so that SSIM is far from both 0 and 1.
    yy, xx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    base = 128 + 80 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    if len(shape) == 3:
        base = base[..., None] + np.arange(shape[2]) * 10
    ref = np.clip(base + rng.normal(0, 10, shape), 0, 255).round()
    out = np.clip(ref + rng.normal(0, 15, shape), 0, 255).round()
    return out, ref


@pytest.mark.parametrize("shape", [(11, 11), (37, 29), (64, 81)])
def test_gray_matches_skimage(shape: tuple[int, int]) -> None:
    out, ref = _images(shape, seed=sum(shape))
    ours = ssim(torch.from_numpy(out)[None, None], torch.from_numpy(ref)[None, None], 255.0).item()
    assert abs(ours - _skimage_ssim(out, ref)) < 1e-10


def test_rgb_is_mean_over_channels_like_skimage() -> None:
    out, ref = _images((40, 52, 3), seed=1)
    a, b = (torch.from_numpy(x).permute(2, 0, 1)[None] for x in (out, ref))
    ours = ssim(a, b, 255.0).item()
    assert abs(ours - _skimage_ssim(out, ref, channel_axis=2)) < 1e-10
    per_channel = [ssim(a[:, c : c + 1], b[:, c : c + 1], 255.0).item() for c in range(3)]
    assert ours == pytest.approx(np.mean(per_channel), abs=1e-14)


def test_batch_is_per_image() -> None:
    pairs = [_images((30, 40), seed=s) for s in range(3)]
    out = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
    ref = torch.from_numpy(np.stack([p[1] for p in pairs]))[:, None]
    expected = torch.tensor([_skimage_ssim(o, r) for o, r in pairs], dtype=torch.float64)
    torch.testing.assert_close(ssim(out, ref, 255.0), expected, rtol=0, atol=1e-10)


def test_identical_is_one_and_map_is_valid_region() -> None:
    x = torch.rand(2, 3, 20, 33)
    torch.testing.assert_close(ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert ssim_map(x, x).shape == (2, 3, 10, 23)


def test_too_small_raises() -> None:
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(1, 1, 10, 20), torch.zeros(1, 1, 10, 20))


def test_gradcheck() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(1, 2, 11, 12, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.rand(1, 2, 11, 12, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: ssim(x, y), (a, b))


def test_loss_decreases_towards_target() -> None:
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(1, 1, 16, 16, generator=gen)
    x = (target + 0.3 * torch.rand(1, 1, 16, 16, generator=gen)).requires_grad_()
    loss = ssim_loss(x, target)
    loss.backward()
    assert loss.dtype == torch.float32 and loss.ndim == 0 and x.grad.dtype == torch.float32
    assert loss.item() == pytest.approx(1 - ssim(x.detach(), target).item(), abs=1e-6)
    with torch.no_grad():
        stepped = ssim_loss(x - 0.1 * x.grad / x.grad.abs().max(), target)
    assert stepped < loss

"""PSNR-B (Yim & Bovik 2011): hand-checked values and its defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dejpeg.codec import decode, encode
from dejpeg.metrics import blocking_effect_factor, psnr, psnrb


def test_step_on_block_boundary() -> None:
    ref = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    out = ref.clone()
    out[..., 8:] = 0.1
    # Only the 16 column pairs (7, 8) differ, by 0.1: D_B = 16 * 0.01 / N_B with
    # N_B = 16 (16/8 - 1) + 16 (16/8 - 1) = 32, D_Bc = 0, eta = log2 8 / log2 16 = 3/4.
    bef = 0.75 * 0.16 / 32
    mse = 0.005
    assert blocking_effect_factor(out).item() == pytest.approx(bef, abs=1e-15)
    assert psnrb(out, ref).item() == pytest.approx(10 * math.log10(1 / (mse + bef)), abs=1e-12)
    assert psnr(out, ref).item() == pytest.approx(10 * math.log10(1 / mse), abs=1e-12)


def test_step_inside_block_gives_psnr() -> None:
    """No excess difference across the grid: BEF = 0 and PSNR-B == PSNR."""
    ref = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    out = ref.clone()
    out[..., 5:] = 0.1
    assert blocking_effect_factor(out).item() == 0
    assert psnrb(out, ref).item() == psnr(out, ref).item()


def test_ramp_has_no_blocking() -> None:
    """Equal differences everywhere (D_B == D_Bc, exactly: powers of two) count as no blocking."""
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(32.0), indexing="ij")
    ramp = ((xx + yy) / 64).double()[None, None]
    ref = ramp.flip(-1)
    assert blocking_effect_factor(ramp).item() == 0
    assert psnrb(ramp, ref).item() == pytest.approx(psnr(ramp, ref).item(), abs=1e-12)


def test_pair_counts_for_sides_not_multiple_of_8() -> None:
    """Pins the reference implementations' closed-form counts (see blocking_effect_factor)."""
    ref = torch.zeros(1, 1, 16, 17, dtype=torch.float64)
    out = ref.clone()
    out[..., 16] = 0.1  # column pair (15, 16) is a boundary, beyond floor(17 / 8) - 1 = 1 counted
    n_boundary = 16 * (17 // 8 - 1) + 17 * (16 // 8 - 1)  # 33, while 49 pairs are summed
    bef = 0.75 * (16 * 0.01) / n_boundary
    mse = 16 * 0.01 / (16 * 17)
    assert psnrb(out, ref).item() == pytest.approx(10 * math.log10(1 / (mse + bef)), abs=1e-12)


def test_bef_measured_on_input_only() -> None:
    """Identical but blocky images: MSE 0, yet finite PSNR-B; swapping the arguments matters."""
    blocky = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    blocky[..., 8:] = 0.1
    smooth = torch.full_like(blocky, 0.05)
    assert torch.isinf(psnr(blocky, blocky)).all()
    assert torch.isfinite(psnrb(blocky, blocky)).all()
    assert psnrb(smooth, blocky).item() == psnr(smooth, blocky).item() > psnrb(blocky, smooth).item()


def test_below_psnr_when_blocky() -> None:
    """BEF >= 0, so gray PSNR-B <= PSNR; strictly below with block-wise offsets."""
    gen = torch.Generator().manual_seed(0)
    ref = 0.3 + 0.05 * torch.rand(8, 1, 24, 40, generator=gen, dtype=torch.float64)
    offsets = torch.rand(8, 1, 3, 5, generator=gen, dtype=torch.float64)
    blocks = offsets.repeat_interleave(8, dim=-2).repeat_interleave(8, dim=-1)
    out = ref + 0.2 * blocks + 0.05 * torch.rand(8, 1, 24, 40, generator=gen, dtype=torch.float64)
    assert (blocking_effect_factor(out) > 0).all()
    assert (psnrb(out, ref) < psnr(out, ref)).all()


def test_jpeg_blocking_lowers_psnrb() -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    image = (128 + 60 * np.sin(xx / 9.0) + 40 * np.cos(yy / 6.0)).round().astype(np.uint8)
    decoded = decode(encode(image, quality=10))
    out, ref = (torch.from_numpy(a).double()[None, None] for a in (decoded, image))
    assert blocking_effect_factor(out).item() > 0
    assert psnrb(out, ref, 255.0).item() < psnr(out, ref, 255.0).item()


def test_color_is_mean_of_channel_db() -> None:
    """Unlike PSNR (MSE pooled over channels), so colour PSNR-B may exceed colour PSNR."""
    out = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    ref = out.clone()
    ref += torch.tensor([0.5, 0.01, 0.01], dtype=torch.float64).view(1, 3, 1, 1)  # no blocking
    expected = (10 * math.log10(1 / 0.25) + 2 * 10 * math.log10(1 / 0.0001)) / 3
    assert psnrb(out, ref).item() == pytest.approx(expected, abs=1e-12)
    assert psnrb(out, ref).item() > psnr(out, ref).item() + 10
    gen = torch.Generator().manual_seed(1)
    out, ref = torch.rand(2, 2, 3, 16, 24, generator=gen, dtype=torch.float64)
    per_channel = torch.stack([psnrb(out[:, c : c + 1], ref[:, c : c + 1]) for c in range(3)], dim=1)
    torch.testing.assert_close(psnrb(out, ref), per_channel.mean(1), rtol=0, atol=1e-12)


def test_too_small_raises() -> None:
    with pytest.raises(ValueError, match="at least 16x16"):
        psnrb(torch.zeros(1, 1, 15, 40), torch.zeros(1, 1, 15, 40))

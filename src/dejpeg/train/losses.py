"""Training objectives, combined by weight: ``{"l1": 1.0, "ssim": 0.1}``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from dejpeg.metrics.ssim import ssim_loss

LossFn = Callable[[Tensor, Tensor], Tensor]

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_gradients(image: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, 2C, H-2, W-2) horizontal and vertical Sobel responses per channel."""
    c = image.shape[1]
    kx = _SOBEL_X.to(image)
    kernels = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3)
    return F.conv2d(image, kernels, groups=c)


def sobel_loss(pred: Tensor, target: Tensor) -> Tensor:
    """MSE between Sobel edge maps (Svoboda et al. 2016): penalises blurred or invented edges."""
    return F.mse_loss(sobel_gradients(pred), sobel_gradients(target))


def psnr_loss(pred: Tensor, target: Tensor, mse_floor: float = 1e-6) -> Tensor:
    """Minus the mean per-patch PSNR, in bels (dB / 10), of [0, 1] images.

    Why: the evaluation averages PSNR over images, and a batch mixes qualities whose errors differ by
    100x. L1/MSE on the batch are ruled by the worst (lowest-quality) patches, so a blind model learns
    little at high qualities and may lower PSNR there; the log of each patch's MSE weights every patch
    by its relative improvement instead. ``mse_floor`` (about a quarter of an 8-bit level, squared)
    keeps near-perfect patches from dominating.
    """
    mse = (pred - target).square().flatten(1).mean(1)
    return torch.log10(mse + mse_floor).mean()


LOSSES: dict[str, LossFn] = {
    "l1": F.l1_loss,
    "mse": F.mse_loss,
    "psnr": psnr_loss,
    "ssim": ssim_loss,
    "sobel": sobel_loss,
}


def make_loss(weights: Mapping[str, float]) -> Callable[[Tensor, Tensor], tuple[Tensor, dict[str, float]]]:
    """A loss returning the weighted sum and each term's value (for the log)."""
    unknown = set(weights) - set(LOSSES)
    if unknown or not weights:
        raise ValueError(f"unknown or empty loss terms {sorted(unknown)}; choose from {sorted(LOSSES)}")

    def loss_fn(pred: Tensor, target: Tensor) -> tuple[Tensor, dict[str, float]]:
        terms = {name: LOSSES[name](pred, target) for name in weights}
        total = sum(weights[name] * value for name, value in terms.items())
        return total, {name: float(value.detach()) for name, value in terms.items()}

    return loss_fn

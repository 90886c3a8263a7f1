"""Peak signal-to-noise ratio."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def check_pair(input: Tensor, target: Tensor, data_range: float, name: str) -> None:
    """Reject what would otherwise broadcast silently or give a meaningless number."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError(f"{name}: expected torch tensors, got {type(input).__name__} and {type(target).__name__}")
    if input.ndim != 4:
        raise ValueError(f"{name}: expected (B, C, H, W) tensors, got shape {tuple(input.shape)}")
    if input.shape != target.shape:
        raise ValueError(f"{name}: shape mismatch, input {tuple(input.shape)} vs target {tuple(target.shape)}")
    if not (input.is_floating_point() and target.is_floating_point()):
        raise ValueError(f"{name}: expected floating tensors, got {input.dtype} and {target.dtype}")
    if min(input.shape) == 0:
        raise ValueError(f"{name}: empty tensor, shape {tuple(input.shape)}")
    if not data_range > 0:
        raise ValueError(f"{name}: data_range must be positive, got {data_range}")


def mse_to_psnr(mse: Tensor, data_range: float) -> Tensor:
    """``10 log10(R^2 / mse)``; +inf where ``mse`` is 0 (identical images)."""
    return 10.0 * torch.log10(data_range**2 / mse)


def psnr(input: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """PSNR in dB of each image, from the MSE over all its channels and pixels.

    Computed and returned in float64, so that 8-bit-valued images give the same number (to ~1e-13)
    whether passed in [0, 255] with ``data_range=255`` or in [0, 1] with ``data_range=1``, and so
    that float16/float32 inputs do not round the result.

    Args:
        input: (B, C, H, W) floating, restored image, values in [0, data_range].
        target: (B, C, H, W) floating, reference image.
        data_range: peak value R (1.0 for [0, 1] images, 255.0 for 8-bit values).

    Returns:
        (B,) float64 PSNR per image (not averaged over the batch); +inf for identical images.

    Example:
        >>> x = torch.zeros(1, 1, 4, 4)
        >>> psnr(x + 0.1, x).round(decimals=4)
        tensor([20.], dtype=torch.float64)
    """
    check_pair(input, target, data_range, "psnr")
    diff = input.double() - target.double()
    mse = diff.square().flatten(1).mean(1)
    return mse_to_psnr(mse, data_range)


class PSNR(nn.Module):
    """Module form of :func:`psnr`."""

    def __init__(self, data_range: float = 1.0) -> None:
        super().__init__()
        self.data_range = data_range

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return psnr(input, target, self.data_range)

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}"

"""Image quality metrics, the one implementation shared by evaluation, tests, training and studies.

Conventions (those that reproduce the published JPEG artifact-removal tables): images are 8-bit
valued; PSNR from the MSE over all pixels and channels; SSIM (Wang et al. 2004) with an 11x11
Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03 over the valid region, colour = mean over
channels; PSNR-B (Yim & Bovik 2011) with 8x8 blocks, colour = mean over channels of the per-channel
dB values. All computed in float64.

Besides the image metrics: where in the 8x8 block the error falls (:mod:`dejpeg.metrics.block_position`), the
Bjøntegaard deltas between rate-distortion curves (:mod:`dejpeg.metrics.bjontegaard`), and the Fréchet distance
between feature sets (:mod:`dejpeg.metrics.frechet`).
"""

from __future__ import annotations

import numpy as np
import torch

from dejpeg.arrays import u8_to_tensor
from dejpeg.metrics.bjontegaard import bd_psnr, bd_rate
from dejpeg.metrics.block_position import block_position_mse, block_position_structure
from dejpeg.metrics.frechet import feature_frechet_distance, frechet_distance, gaussian_statistics
from dejpeg.metrics.psnr import PSNR, psnr
from dejpeg.metrics.psnrb import PSNRB, blocking_effect_factor, psnrb
from dejpeg.metrics.ssim import SSIM, ssim, ssim_loss, ssim_map


def _as_batch(image_u8: np.ndarray, name: str) -> torch.Tensor:
    if not isinstance(image_u8, np.ndarray) or image_u8.dtype != np.uint8:
        raise ValueError(f"{name}: expected a uint8 numpy array, got {getattr(image_u8, 'dtype', type(image_u8))}")
    if image_u8.ndim == 2 or (image_u8.ndim == 3 and image_u8.shape[2] == 3):
        return u8_to_tensor(image_u8, torch.float64, unit_range=False)
    raise ValueError(f"{name}: expected (H, W) gray or (H, W, 3) RGB, got shape {image_u8.shape}")


def image_metrics(restored_u8: np.ndarray, reference_u8: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM and PSNR-B of one 8-bit image against its reference, for evaluation tables.

    Args:
        restored_u8: (H, W) gray or (H, W, 3) RGB uint8, the output (PSNR-B's blockiness is
            measured on it).
        reference_u8: same shape and dtype, the ground truth.

    Returns:
        ``{"psnr": dB, "ssim": ..., "psnrb": dB}`` as Python floats.

    Example:
        >>> ref = np.full((16, 16), 100, np.uint8)
        >>> {k: round(v, 4) for k, v in image_metrics(ref + 1, ref).items()}  # MSE 1
        {'psnr': 48.1308, 'ssim': 1.0, 'psnrb': 48.1308}
    """
    restored = _as_batch(restored_u8, "restored_u8")
    reference = _as_batch(reference_u8, "reference_u8")
    if restored.shape != reference.shape:
        raise ValueError(f"shape mismatch: restored {restored_u8.shape} vs reference {reference_u8.shape}")
    return {
        "psnr": psnr(restored, reference, 255.0).item(),
        "ssim": ssim(restored, reference, 255.0).item(),
        "psnrb": psnrb(restored, reference, 255.0).item(),
    }


__all__ = [
    "PSNR",
    "PSNRB",
    "SSIM",
    "bd_psnr",
    "bd_rate",
    "block_position_mse",
    "block_position_structure",
    "blocking_effect_factor",
    "feature_frechet_distance",
    "frechet_distance",
    "gaussian_statistics",
    "image_metrics",
    "psnr",
    "psnrb",
    "ssim",
    "ssim_loss",
    "ssim_map",
]

"""The Fréchet distance between two sets of feature vectors, each summarised by a Gaussian (Heusel et al. 2017,
"GANs Trained by a Two Time-Scale Update Rule...", the FID's formula).

Why here and not a package: FID proper is this distance on one fixed network's features (Inception-v3, pool3),
whose weights cannot be had offline; the formula itself is a few lines and applies to any features, so the
papers' "realism" tables can be re-measured with the features we have, and stated as not comparable to a
published FID.
"""

from __future__ import annotations

import torch
from torch import Tensor


def gaussian_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and covariance (D, D) (unbiased, N - 1) of (N, D) features, in float64; N >= 2."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"expected (N, D) features with N >= 2, got shape {tuple(features.shape)}")
    x = features.double()
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, centred.T @ centred / (x.shape[0] - 1)


def frechet_distance(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> Tensor:
    """``|m1 - m2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^(1/2))``, the squared 2-Wasserstein distance between the
    Gaussians N(m1, C1) and N(m2, C2), as a float64 scalar.

    The trace of the matrix square root is computed as that of ``(C1^(1/2) C2 C1^(1/2))^(1/2)``, which has the same
    eigenvalues and is symmetric, so symmetric eigendecompositions suffice (no complex parts to discard, unlike
    ``scipy.linalg.sqrtm`` on the non-symmetric product); eigenvalues a rank-deficient covariance (fewer samples
    than dimensions) leaves slightly negative by rounding count as zero.
    """
    mean1, cov1, mean2, cov2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    if mean1.shape != mean2.shape or cov1.shape != cov2.shape or cov1.shape != (*mean1.shape, *mean1.shape):
        raise ValueError(f"mismatched statistics: means {tuple(mean1.shape)}, {tuple(mean2.shape)}, covariances "
                         f"{tuple(cov1.shape)}, {tuple(cov2.shape)}")  # fmt: skip
    values, vectors = torch.linalg.eigh(cov1)
    root1 = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    product = root1 @ cov2 @ root1
    cross = torch.linalg.eigvalsh((product + product.T) / 2).clamp_min(0).sqrt().sum()
    return (mean1 - mean2).square().sum() + cov1.trace() + cov2.trace() - 2 * cross


def feature_frechet_distance(features1: Tensor, features2: Tensor) -> Tensor:
    """:func:`frechet_distance` between the Gaussians of two (N, D) feature sets."""
    return frechet_distance(*gaussian_statistics(features1), *gaussian_statistics(features2))

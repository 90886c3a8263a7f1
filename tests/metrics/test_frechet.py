"""The Fréchet distance against scipy's matrix square root and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from dejpeg.metrics import feature_frechet_distance, frechet_distance, gaussian_statistics


def _reference(x: np.ndarray, y: np.ndarray) -> float:
    """The formula as the FID's reference code computes it: scipy's sqrtm of the covariances' product."""
    m1, m2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2).real
    return float(np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(root))


def test_statistics_are_numpys_mean_and_unbiased_covariance():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    mean, cov = gaussian_statistics(x)
    assert mean.dtype == torch.float64
    np.testing.assert_allclose(mean.numpy(), x.double().numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-12)


@pytest.mark.parametrize("samples", [400, 12])  # full rank, and fewer samples than dimensions (rank 11 of 16)
def test_matches_the_reference_formula(samples):
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(16, 16))
    x = rng.normal(size=(samples, 16)) @ mixing
    y = rng.normal(size=(samples, 16)) @ (mixing + 0.3 * rng.normal(size=(16, 16))) + 0.5
    ours = feature_frechet_distance(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert ours > 1.0
    if samples > 16:
        # sqrtm's Schur method and our eigendecompositions differ by rounding only (measured: 3e-13 relative)
        assert ours == pytest.approx(_reference(x, y), rel=1e-9)
        return
    # Rank 11 of 16: C1 C2 has 5 zero eigenvalues, which both computations see as rounding errors of up to
    # eps * the largest eigenvalue; their square roots, up to sqrt(eps * largest) each, enter the trace term twice,
    # in both computations. Measured: 1e-12 relative on an Intel AVX-512 CPU, 9e-9 on an AMD one.
    largest = np.abs(np.linalg.eigvals(np.cov(x, rowvar=False) @ np.cov(y, rowvar=False))).max()
    bound = 2 * 2 * (16 - (samples - 1)) * np.sqrt(np.finfo(np.float64).eps * largest)
    assert ours == pytest.approx(_reference(x, y), abs=bound)


def test_closed_forms():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert feature_frechet_distance(x, x).item() == pytest.approx(0.0, abs=1e-10)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5, 3.0], dtype=torch.float64)
    assert feature_frechet_distance(x, x + shift).item() == pytest.approx(shift.square().sum().item(), rel=1e-10)
    # one dimension: (m1 - m2)^2 + (s1 - s2)^2
    distance = frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([3.0]), torch.tensor([[9.0]]))
    assert distance.item() == pytest.approx(2.0**2 + (2.0 - 3.0) ** 2, abs=1e-12)


def test_refuses_mismatched_or_too_few_features():
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_statistics(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3))

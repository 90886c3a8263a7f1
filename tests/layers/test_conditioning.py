"""Table features, FiLM and the FiLM residual block: what they compute and the state-dict layout they keep."""

from __future__ import annotations

import math

import pytest
import torch

from dejpeg.jpeg import ijg_qtables
from dejpeg.layers import FiLM, FiLMResBlock, qtable_features
from dejpeg.models import create_model


def test_qtable_features_are_log_steps_in_unit_range():
    tables = torch.tensor([1.0, 2.0, 255.0, 1000.0, 0.5]).repeat(13)[:64].view(1, 1, 8, 8)
    features = qtable_features(tables)
    assert features.shape == (1, 64)
    expected = torch.log(tables.flatten(1).clamp(1, 255).double()) / math.log(255.0)
    torch.testing.assert_close(features.double(), expected, atol=1e-7, rtol=0)  # float32 logs of 1..255
    assert features.min() == 0 and features.max() == 1  # steps outside 1..255 are clamped


def test_qtable_features_see_quality_as_a_ratio():
    # Doubling every step moves every feature by the same amount, at any quality.
    tables = torch.from_numpy(ijg_qtables(90)).float().clamp(max=100)[None]  # (1, 2, 8, 8), 2 * step <= 255
    shift = qtable_features(2 * tables) - qtable_features(tables)
    torch.testing.assert_close(shift, torch.full_like(shift, math.log(2) / math.log(255)))


def test_film_starts_unconditioned_and_keeps_sequential_keys():
    film = FiLM(cond_dim=64, blocks=3, width=5)
    assert list(film.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # shipped weights' names
    modulations = film.per_block(torch.rand(2, 64))
    assert len(modulations) == 3
    for gamma, beta in modulations:
        assert gamma.shape == beta.shape == (2, 5)
        assert not gamma.any() and not beta.any()


def test_film_per_block_alternates_scale_and_shift_chunks():
    # The layout of the trained output layer: block i's scale is chunk 2i, its shift chunk 2i + 1.
    torch.manual_seed(0)
    film = FiLM(cond_dim=4, blocks=2, width=3, hidden=8)
    torch.nn.init.normal_(film[-1].weight)
    cond = torch.rand(2, 4)
    out = film(cond)
    (g0, b0), (g1, b1) = film.per_block(cond)
    torch.testing.assert_close(torch.cat([g0, b0, g1, b1], dim=1), out, atol=0, rtol=0)


def test_film_res_block_scales_and_shifts_the_residual_per_channel():
    torch.manual_seed(0)
    block = FiLMResBlock(4)
    x = torch.rand(2, 4, 6, 6)
    gamma, beta = torch.randn(2, 4), torch.randn(2, 4)
    residual = block.conv2(torch.relu(block.conv1(x)))
    expected = x + residual * (1 + gamma)[:, :, None, None] + beta[:, :, None, None]
    torch.testing.assert_close(block(x, gamma, beta), expected, atol=1e-6, rtol=1e-6)  # float32, reassociated
    assert list(block.state_dict()) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]


@pytest.mark.parametrize("name", ["dejpeg_net_dct_w160.blind_bsds300", "dejpeg_net_dct_w192.blind_bsds300"])
def test_shipped_dejpeg_net_weights_load_strictly(name):
    model = create_model(name)  # load_state_dict(strict=True): raises if a moved layer renamed a key
    assert "luma.film.0.weight" in model.state_dict() and "luma.body.0.conv1.weight" in model.state_dict()

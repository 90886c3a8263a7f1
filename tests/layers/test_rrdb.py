"""Residual-in-residual dense blocks: QGAC's shapes (15 convolutions, growth = width) and groups that stay apart."""

import pytest
import torch

from dejpeg.layers.rrdb import RRDB


@pytest.mark.parametrize(("channels", "groups"), [(16, 1), (32, 8)])
def test_parameter_count_follows_the_layer_shapes(channels, groups):
    # Dense block: convolution k (1..5) maps k * channels to channels, each group seeing k * channels / groups,
    # with a bias and a one-parameter PReLU; three dense blocks.
    per_block = sum(channels * (k * channels // groups) * 9 + channels + 1 for k in range(1, 6))
    rrdb = RRDB(channels, groups)
    assert sum(p.numel() for p in rrdb.parameters()) == 3 * per_block
    assert sum(isinstance(m, torch.nn.Conv2d) for m in rrdb.modules()) == 15


def test_groups_do_not_mix():
    torch.manual_seed(0)
    rrdb = RRDB(12, groups=4)  # 4 groups of 3 channels
    x = torch.randn(2, 12, 6, 6)
    changed = x.clone()
    changed[:, 3:6] += torch.randn(2, 3, 6, 6)  # group 1 only
    difference = (rrdb(changed) - rrdb(x)).abs().amax(dim=(0, 2, 3))
    assert difference[3:6].min() > 1e-4
    assert difference[:3].max() == 0 and difference[6:].max() == 0


def test_groups_must_divide_the_channels():
    with pytest.raises(ValueError, match="multiple of groups"):
        RRDB(10, groups=4)

"""Operations per pixel: the plain chains' count from their layer shapes, the hooks' count, and the paper's."""

import pytest
import torch

from dejpeg.models import count_macs, create_model
from dejpeg.models._plain_cnn import PlainCnn

#: Svoboda et al. 2016 give L4 140 K and L8 440 K operations per pixel: a multiply and an add per MAC.
PAPER_OPS = {"l4": (140_000, 0.03), "l8": (440_000, 0.01)}


def test_hand_built_chain_counts_its_layer_shapes() -> None:
    net = PlainCnn(((3, 4), (1, 2), (5, 1)), skips=(2,))
    assert net.macs_per_pixel() == 3 * 3 * 1 * 4 + 1 * 4 * 2 + 5 * 5 * (2 + 4) * 1
    image = torch.rand(1, 1, 16, 24)
    assert count_macs(net, lambda: net(image)) == net.macs_per_pixel() * 16 * 24


@pytest.mark.parametrize("name", ["l4", "l8"])
def test_paper_operations_per_pixel(name: str) -> None:
    net = create_model(name, pretrained=False)
    image = torch.rand(1, 1, 8, 8)
    assert count_macs(net, lambda: net(image)) == net.macs_per_pixel() * 64
    paper, tolerance = PAPER_OPS[name]
    assert 2 * net.macs_per_pixel() == pytest.approx(paper, rel=tolerance)

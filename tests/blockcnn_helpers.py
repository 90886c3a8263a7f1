"""A tiny, seeded, randomly initialised BlockCNN predictor with activation ranges, for codec tests."""

import torch
import torch.nn.functional as F

from dejpeg.models import create_model
from dejpeg.models.blockcnn import BlockCnnPredictor

TINY = {"width": 8, "blocks": 1}


def smooth_images(generator: torch.Generator, count: int, height: int, width: int) -> torch.Tensor:
    """(count, 1, H, W) in [0, 1]: coarse noise, bilinearly enlarged, plus fine noise (photo-like blocks)."""
    coarse = torch.rand(count, 1, height // 8 + 1, width // 8 + 1, generator=generator)
    base = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return (0.9 * base + 0.1 * torch.rand(count, 1, height, width, generator=generator)).clamp(0, 1)


def tiny_predictor(seed: int = 0) -> BlockCnnPredictor:
    """Seeded weights (the head too, which starts at zero in training), ranges and batch-norm statistics
    from a few training-mode passes; in eval mode."""
    torch.manual_seed(seed)
    net = create_model("blockcnn_predictor", pretrained=False, **TINY)
    torch.nn.init.normal_(net.body.head.weight, std=0.05)
    generator = torch.Generator().manual_seed(seed)
    net.train()
    with torch.no_grad():
        for _ in range(20):
            net(smooth_images(generator, 4, 32, 32))
    return net.eval()

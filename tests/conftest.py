"""Shared test fixtures: synthetic natural-ish images, image folders, the ../shared data location."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# Two cores at most: the suite must not oversubscribe the CI machine.
torch.set_num_threads(min(2, torch.get_num_threads()))


def _natural_image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Deterministic natural-ish uint8 image: smooth gradients and waves, a bright
    rectangle and a disc (sharp edges), plus Gaussian noise (texture)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = [
        100 + 80 * np.sin(x / 17) + 30 * np.cos(y / 11),
        60 + 120 * x / width + 40 * y / height,
        200 - 120 * y / height + 20 * np.sin((x + y) / 9),
    ]
    image = np.stack(planes[:channels], axis=-1)
    image[height // 4 : height // 2, width // 3 : 2 * width // 3] += 70
    image[(y - 0.7 * height) ** 2 + (x - 0.3 * width) ** 2 < (0.15 * min(height, width)) ** 2] -= 80
    image += rng.normal(0, 6, image.shape)
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return image[..., 0] if channels == 1 else image


@pytest.fixture
def natural_image() -> Callable[..., np.ndarray]:
    """Factory ``natural_image(height, width, channels=3, seed=0) -> uint8`` ((H, W) if channels == 1)."""
    return _natural_image


def shared_path(relative: str) -> Path:
    """A path under ../shared, or skip the calling test, saying what is missing."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data beside the repository), which is absent")
    return path


def write_image_folder(folder: Path, count: int, size: tuple[int, int] = (64, 80)) -> Path:
    """``count`` lossless PNGs of distinct natural-ish images."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(_natural_image(*size, seed=i)).save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Six 64x80 natural-ish RGB PNGs."""
    return write_image_folder(tmp_path / "images", 6)

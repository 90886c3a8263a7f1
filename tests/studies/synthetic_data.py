"""Tiny synthetic image-folder data sets (classes a small CNN learns in a few steps) for the study tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("disc", "hstripes", "vstripes")


def synthetic_image(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A coloured pattern of one kind (random phase, period and colours) with noise: learnable, not trivial."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    period = rng.uniform(4, 8)
    phase = rng.uniform(0, 2 * np.pi)
    if kind == "disc":
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        mask = ((y - cy) ** 2 + (x - cx) ** 2 < (rng.uniform(0.2, 0.35) * size) ** 2).astype(float)
    elif kind == "hstripes":
        mask = 0.5 + 0.5 * np.sin(2 * np.pi * y / period + phase)
    else:
        mask = 0.5 + 0.5 * np.sin(2 * np.pi * x / period + phase)
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    image = a + (b - a) * mask[..., None] + rng.normal(0, 8, (size, size, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def write_dataset(root: Path, per_class: dict[str, int], size: int = 32, labelled: bool = True, seed: int = 0) -> Path:
    """``root/<split>/<class>/*.png`` (or ``root/<split>/*.png`` when not ``labelled``)."""
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for kind in CLASSES:
            folder = root / split / kind if labelled else root / split
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                Image.fromarray(synthetic_image(kind, size, rng)).save(folder / f"{kind}_{i:03d}.png")
    return root

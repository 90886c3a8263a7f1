"""Regenerate the README's before/after crops: ``python docs/make_sample_figure.py``.

The sample is a 320x320 crop of ``skimage.data.astronaut()`` (NASA, public domain) saved at IJG
quality 10 as ``assets/astronaut_q10.jpg``; the original crop needs scikit-image, the rest does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import dejpeg
from dejpeg.metrics import image_metrics

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "astronaut_q10.jpg"
CROP = (slice(70, 198), slice(60, 188))  # the face: 128x128 source pixels
ZOOM = 2


def original_crop() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[16:336, 96:416])


def main() -> None:
    jpeg = dejpeg.jpeg.decode(SAMPLE)
    restored = dejpeg.restore(SAMPLE)
    original = original_crop()
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    for name, image in (("jpeg", jpeg), ("restored", restored), ("original", original)):
        crop = Image.fromarray(image[CROP])
        crop.resize((crop.width * ZOOM, crop.height * ZOOM), Image.NEAREST).save(out / f"sample_{name}.png")
    for name, image in (("jpeg", jpeg), ("restored", restored)):
        scores = image_metrics(image, original)
        print(f"{name:>8}: PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}, PSNR-B {scores['psnrb']:.2f} dB")


if __name__ == "__main__":
    main()

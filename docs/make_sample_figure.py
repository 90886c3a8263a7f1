"""Regenerate the README's before/after figure: ``python docs/make_sample_figure.py``.

The sample is a 320x320 crop of ``skimage.data.astronaut()`` (NASA, public domain) saved at IJG
quality 10 as ``assets/astronaut_q10.jpg``; the original crop needs scikit-image, the rest does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import dejpeg
from dejpeg.metrics import image_metrics

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "astronaut_q10.jpg"
CROP = (slice(70, 198), slice(60, 188))  # the face: 128x128 source pixels
ZOOM = 2
GAP, LABEL_HEIGHT = 6, 28


def side_by_side(panels: list[tuple[str, np.ndarray]]) -> Image.Image:
    """The crops enlarged without smoothing, in a row, each captioned above."""
    crops = [Image.fromarray(image[CROP]).convert("RGB") for _, image in panels]
    crops = [c.resize((c.width * ZOOM, c.height * ZOOM), Image.NEAREST) for c in crops]
    width = sum(c.width for c in crops) + GAP * (len(crops) - 1)
    figure = Image.new("RGB", (width, LABEL_HEIGHT + crops[0].height), "white")
    draw, font = ImageDraw.Draw(figure), ImageFont.load_default(size=18)
    x = 0
    for (caption, _), crop in zip(panels, crops):
        figure.paste(crop, (x, LABEL_HEIGHT))
        draw.text((x + crop.width // 2, LABEL_HEIGHT // 2), caption, fill="black", font=font, anchor="mm")
        x += crop.width + GAP
    return figure


def original_crop() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[16:336, 96:416])


def main() -> None:
    jpeg = dejpeg.codec.decode(SAMPLE)
    restored = dejpeg.restore(SAMPLE)
    original = original_crop()
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    panels = [("JPEG quality 10", jpeg), ("dejpeg restore", restored), ("original", original)]
    side_by_side(panels).save(out / "before_after.png", optimize=True)
    for name, image in (("jpeg", jpeg), ("restored", restored)):
        scores = image_metrics(image, original)
        print(f"{name:>8}: PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}, PSNR-B {scores['psnrb']:.2f} dB")


if __name__ == "__main__":
    main()

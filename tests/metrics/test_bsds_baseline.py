"""The published JPEG Q10 grayscale baseline on BSDS500-test200: 27.80 dB / .768 / 25.09 dB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dejpeg.codec import decode, encode
from dejpeg.jpeg import rgb_to_y_bt601_u8
from dejpeg.metrics import psnr, psnrb, ssim

BSDS_TEST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "val" / "bsds500-test200"
CHUNK = 25  # images per metric call: bounds memory (SSIM holds ~10 float64 maps per image)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.skipif(not BSDS_TEST.is_dir(), reason=f"shared data absent: {BSDS_TEST} (see ../shared/data/README.md)")
def test_jpeg_q10_gray_baseline() -> None:
    files = sorted(BSDS_TEST.glob("*.jpg"))
    assert len(files) == 200
    # Photos come in two orientations; batch each shape separately.
    by_shape: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
    for path in files:
        reference = rgb_to_y_bt601_u8(decode(path))
        by_shape.setdefault(reference.shape, []).append((decode(encode(reference, quality=10)), reference))
    scores: dict[str, list[torch.Tensor]] = {"psnr": [], "ssim": [], "psnrb": []}
    for pairs in by_shape.values():
        compressed, reference = (torch.from_numpy(np.stack(p)).double()[:, None] for p in zip(*pairs))
        for start in range(0, len(pairs), CHUNK):
            out, ref = compressed[start : start + CHUNK], reference[start : start + CHUNK]
            for name, metric in (("psnr", psnr), ("ssim", ssim), ("psnrb", psnrb)):
                scores[name].append(metric(out, ref, 255.0))
    means = {name: torch.cat(values).mean().item() for name, values in scores.items()}
    assert means["psnr"] == pytest.approx(27.80, abs=0.01)
    assert means["ssim"] == pytest.approx(0.768, abs=0.001)
    assert means["psnrb"] == pytest.approx(25.09, abs=0.01)

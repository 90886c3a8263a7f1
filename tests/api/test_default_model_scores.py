"""Regression check of the shipped default model on held-out photos (needs ../shared)."""

import pytest
from conftest import shared_path

from dejpeg.evaluation import evaluate
from dejpeg.layers.int8 import EXACT_WEIGHT_LEVELS, int8_available, weight_levels
from dejpeg.models import default_model_name, get_entry


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.pretrained
def test_default_model_gain_on_bsds500_test_subset():
    data = shared_path("data/val/bsds500-test200")
    gray = evaluate(data, qualities=[10], gray=True, max_images=30, progress=False)["rows"][0]
    color = evaluate(data, qualities=[10], gray=False, max_images=10, progress=False)["rows"][0]
    # Measured 2026-11-22 (dejpeg_net.dct_blind_v6_bsds300, int8 weights): +1.188 dB gray (30 images, SSIM
    # +0.0366), +1.354 dB colour (10 images); +1.27 / +1.49 on all 200. The previous defaults: v5 +1.145 / +1.316,
    # v4 +1.10 / +1.27, v3 +1.03 / +1.20; bf16 and fp32 within 0.001 dB.
    assert gray["psnr_gain"] > 1.14 and gray["ssim_gain"] > 0.034
    assert color["psnr_gain"] > 1.30
    # The registry's record must agree with what the model does.
    reported = get_entry(default_model_name()).weights.scores["bsds500_gray_q10_psnr_gain"]
    assert gray["psnr_gain"] == pytest.approx(reported, abs=0.1)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.pretrained
def test_default_model_does_not_lower_psnr_at_high_quality():
    # Kodak24 originals are lossless (BSDS500's are IJG Q95 JPEGs, which makes high qualities there special).
    data = shared_path("data/val/kodak24")
    gray = evaluate(data, qualities=[90], gray=True, max_images=8, progress=False)["rows"][0]
    color = evaluate(data, qualities=[90], gray=False, max_images=4, progress=False)["rows"][0]
    # Measured 2026-11-22 (dejpeg_net.dct_blind_v6_bsds300): +0.97 dB gray, +0.73 dB colour; v5 +0.89 / +0.68,
    # v4 +0.79 / +0.63, v3 +0.66 / +0.55, v2 +0.50 / +0.42, and the one before, trained with L1 + SSIM only,
    # +0.16 / +0.14 over all 24 images.
    assert gray["psnr_gain"] > 0.91
    assert color["psnr_gain"] > 0.68


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.pretrained
@pytest.mark.skipif(not int8_available(), reason="this PyTorch build cannot run dejpeg's oneDNN int8 calls")
def test_int8_compute_keeps_the_default_model_gain():
    data = shared_path("data/val/bsds500-test200")
    for gray, qualities in ((True, [10, 90]), (False, [10])):
        fp32, int8 = (
            evaluate(data, qualities=qualities, gray=gray, max_images=6, progress=False, precision=p)["rows"]
            for p in ("fp32", "int8")
        )
        # Measured with exact 8-bit sums (VNNI, AMX), first 10 images: gray -0.0014 / -0.0017 dB at Q10 / Q90,
        # colour -0.0006 at Q10. Where pairs of products saturate in 16 bits, the weights have 63 levels instead
        # of 127: twice the rounding step, four times the rounding noise power, and a PSNR loss this small is
        # linear in that power, so at most 4x (measured -0.0035 / -0.0059 dB gray on 12 images with AVX2).
        tolerance = 0.005 * (EXACT_WEIGHT_LEVELS / weight_levels()) ** 2
        for exact, fast in zip(fp32, int8):
            assert fast["psnr_gain"] == pytest.approx(exact["psnr_gain"], abs=tolerance)
            assert fast["psnr_gain"] != exact["psnr_gain"]  # int8 did run

"""Regression check of the shipped default model on held-out photos (needs ../shared)."""

import pytest
from conftest import shared_path

from dejpeg.api import evaluate
from dejpeg.models import default_model_name, get_entry


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.pretrained
def test_default_model_gain_on_bsds500_test_subset():
    data = shared_path("data/val/bsds500-test200")
    gray = evaluate(data, qualities=[10], gray=True, max_images=30, progress=False)["rows"][0]
    color = evaluate(data, qualities=[10], gray=False, max_images=10, progress=False)["rows"][0]
    # Measured 2026-11-22 (dejpeg_net.dct_blind_bsds300): +0.80 dB gray (30 images), +0.93 dB colour
    # (10 images); +0.81 / +0.95 on all 200.
    assert gray["psnr_gain"] > 0.72 and gray["ssim_gain"] > 0.02
    assert color["psnr_gain"] > 0.8
    # The registry's record must agree with what the model does.
    reported = get_entry(default_model_name()).weights.reported["bsds500_gray_q10_psnr_gain"]
    assert gray["psnr_gain"] == pytest.approx(reported, abs=0.1)

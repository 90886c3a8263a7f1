"""The classical baselines with nothing to train: FFmpeg's spp filter and the jpeg2png-style TV decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import dejpeg
from dejpeg.arrays import u8_to_tensor
from dejpeg.cli.__main__ import main
from dejpeg.codec import decode, encode, read_coefficients, read_qtables
from dejpeg.jpeg import ijg_qtables, luma_chroma_tables
from dejpeg.jpeg.consistency import project_to_coefficients
from dejpeg.layers.block_dct import block_dct
from dejpeg.metrics import image_metrics
from dejpeg.metrics.psnrb import blocking_effect_factor
from dejpeg.models import JpegSide, create_model, list_models
from dejpeg.models.spp import SHIFTS
from dejpeg.models.tv_decoder import smoothness


def _side(data: bytes) -> JpegSide:
    qt = torch.from_numpy(luma_chroma_tables(read_qtables(data).astype(np.float32)))[None]
    return JpegSide.from_file(qt, read_coefficients(data))


def _run(name: str, data: bytes, **kwargs: object) -> torch.Tensor:
    """The model's own output on a file whose sides are multiples of 16 (no padding), unclamped, (1, C, H, W)."""
    model = create_model(name, pretrained=True, **kwargs)
    with torch.no_grad():
        return model(u8_to_tensor(decode(data)), _side(data))


def test_both_are_ready_without_weights(capsys):
    assert {"spp", "spp_soft", "tv_decoder"} <= set(list_models(pretrained=True))
    assert main(["models"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.split()[:1] in (["spp"], ["tv_decoder"])]
    assert len(lines) == 2 and all("no training needed" in line for line in lines)


@pytest.mark.parametrize("level", sorted(SHIFTS))
def test_each_spp_level_averages_its_documented_number_of_distinct_shifts(level):
    shifts = SHIFTS[level]
    assert len(set(shifts)) == len(shifts) == 2**level
    assert (0, 0) in shifts and all(0 <= dy < 8 and 0 <= dx < 8 for dy, dx in shifts)
    with pytest.raises(ValueError, match="level"):
        create_model("spp", level=7)


@pytest.mark.parametrize("mode", ["hard", "soft"])
@pytest.mark.parametrize("channels", [1, 3])
def test_spp_keeps_a_constant_image(mode, channels):
    image = torch.full((1, channels, 24, 40), 0.37)
    out = create_model("spp", mode=mode, level=3)(image, JpegSide(torch.from_numpy(ijg_qtables(10))[None].float()))
    torch.testing.assert_close(out, image, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["spp", "spp_soft"])
def test_spp_removes_blocking_and_raises_psnr_at_q10(natural_image, name):
    reference = natural_image(96, 128, channels=1)
    data = encode(reference, quality=10)
    restored = dejpeg.restore(data, name, consistency=False)
    before, after = image_metrics(decode(data), reference), image_metrics(restored, reference)
    assert after["psnr"] > before["psnr"] + 0.1
    assert after["psnrb"] > before["psnrb"] + 1.0
    bef = [blocking_effect_factor(u8_to_tensor(x).double()).item() for x in (decode(data), restored)]
    assert bef[1] < 0.5 * bef[0]


def test_hard_and_soft_thresholding_differ(natural_image):
    data = encode(natural_image(64, 80, channels=1), quality=20)
    assert (_run("spp", data) - _run("spp_soft", data)).abs().max() > 1 / 255


def test_the_smoothness_gradient_is_that_of_the_objective():
    torch.manual_seed(0)
    planes = (torch.rand(2, 3, 16, 24, dtype=torch.float64) * 60).requires_grad_()
    energy, grad = smoothness(planes.detach(), second_order_weight=0.3)
    smoothness(planes, second_order_weight=0.3)[0].sum().backward()
    torch.testing.assert_close(grad, planes.grad)
    torch.testing.assert_close(energy, smoothness(planes.detach(), 0.3)[0])


def test_tv_decoder_stays_in_the_intervals_and_is_smoother_than_the_decode(natural_image):
    reference = natural_image(64, 96, channels=1)
    data = encode(reference, quality=10)
    out = _run("tv_decoder", data)
    coefficients = read_coefficients(data)
    dct = block_dct(out, level_shift=True)[0].permute(1, 2, 0).reshape(8, 12, 8, 8).double()
    centre = torch.from_numpy(coefficients.components[0].astype(np.float64))
    step = torch.from_numpy(coefficients.qtables[0].astype(np.float64))
    assert ((dct / step - centre).abs() <= 0.5 + 1e-4).all()
    decoded = u8_to_tensor(decode(data)).double() * 255
    for weight in (0.0, 0.3):
        assert smoothness(out.double() * 255, weight)[0] < 0.95 * smoothness(decoded, weight)[0]


@pytest.mark.parametrize("channels", [1, 3])
def test_tv_decoder_raises_psnr_at_q10_gray_and_420_colour(natural_image, channels):
    reference = natural_image(96, 128, channels=channels)
    data = encode(reference, quality=10, subsampling="420")
    restored = dejpeg.restore(data, "tv_decoder", consistency=False)
    assert image_metrics(restored, reference)["psnr"] > image_metrics(decode(data), reference)["psnr"] + 0.3
    if channels == 3:  # every component, chroma at its coded resolution, lies in the file's intervals
        out = _run("tv_decoder", data, iterations=5)[0]
        projected = project_to_coefficients(out, read_coefficients(data))
        assert (projected - out).abs().max() < 1e-4


@pytest.mark.parametrize("name", ["spp", "tv_decoder"])
@pytest.mark.parametrize("channels", [1, 3])
def test_restore_and_cli_end_to_end(natural_image, tmp_path, name, channels):
    reference = natural_image(40, 56, channels=channels)  # not a multiple of 16: padded and cropped
    path = tmp_path / "in.jpg"
    path.write_bytes(encode(reference, quality=15))
    restored = dejpeg.restore(path, name)
    assert restored.shape == reference.shape and restored.dtype == np.uint8
    decoded = decode(path.read_bytes())
    assert (restored != decoded).any()  # (the gains are tested above, on larger images)
    assert image_metrics(restored, reference)["psnr"] > image_metrics(decoded, reference)["psnr"] - 1.0
    out = tmp_path / "out.png"
    assert main(["restore", str(path), "--model", name, "-o", str(out), "--quiet"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out)), restored)

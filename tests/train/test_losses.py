import pytest
import torch

from dejpeg.metrics import psnr
from dejpeg.train.losses import make_loss, psnr_loss, sobel_gradients, sobel_loss


def test_sobel_of_a_ramp_is_constant():
    ramp = torch.arange(10.0).expand(1, 1, 6, 10)
    grads = sobel_gradients(ramp)
    torch.testing.assert_close(grads[:, 0], torch.full((1, 4, 8), 8.0))  # d/dx of x, Sobel gain 8
    torch.testing.assert_close(grads[:, 1], torch.zeros(1, 4, 8))


def test_sobel_loss_sees_blur_but_not_offset():
    x = torch.zeros(1, 1, 16, 16)
    x[..., 8:] = 1.0
    assert sobel_loss(x + 0.3, x) < 1e-12
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    assert sobel_loss(blurred, x) > 0.01


def test_weighted_sum_and_terms():
    pred, target = torch.full((2, 1, 16, 16), 0.5), torch.full((2, 1, 16, 16), 0.25)
    loss, terms = make_loss({"l1": 1.0, "mse": 2.0})(pred, target)
    assert terms == pytest.approx({"l1": 0.25, "mse": 0.0625})
    assert float(loss) == pytest.approx(0.25 + 2 * 0.0625)


def test_unknown_loss_is_an_error():
    with pytest.raises(ValueError, match="unknown"):
        make_loss({"perceptual": 1.0})


def test_psnr_loss_is_minus_mean_psnr_and_weighs_patches_by_relative_error():
    target = torch.rand(2, 3, 16, 16)
    pred = target + torch.stack([torch.full((3, 16, 16), 0.1), torch.full((3, 16, 16), 0.01)])
    expected = -psnr(pred, target).mean() / 10  # 20 and 40 dB
    torch.testing.assert_close(psnr_loss(pred, target, mse_floor=0.0), expected.float(), rtol=1e-5, atol=1e-6)
    # Halving each patch's error is worth the same to the loss at 20 dB and at 40 dB (unlike MSE).
    pred.requires_grad_(True)
    psnr_loss(pred, target, mse_floor=0.0).backward()
    gains = [(pred.grad[i] * (pred - target)[i].detach()).sum().abs() for i in range(2)]
    torch.testing.assert_close(gains[0], gains[1])

import pytest
import torch
import torch.nn.functional as F

from dejpeg.layers import int8 as int8_module
from dejpeg.layers.int8 import Int8Conv2d, int8_available, int8_compute

needs_int8 = pytest.mark.skipif(not int8_available(), reason="this PyTorch build has no oneDNN int8 convolution")


def _conv(relu: bool = False, c_in: int = 32, c_out: int = 48) -> Int8Conv2d:
    torch.manual_seed(0)
    return Int8Conv2d(c_in, c_out, 3, padding=1, relu=relu).eval()


def _input(batch: int = 2, channels: int = 32) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.randn(batch, channels, 20, 28)
    x[0, 3, 5:9, 7:12] = 12.0  # an outlier region, as strong edges put in a residual stream
    return x


def _relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out - ref).norm() / ref.norm())


def test_outside_the_context_it_is_a_plain_convolution():
    conv, x = _conv(relu=True), _input()
    with torch.no_grad():
        assert torch.equal(conv(x), F.relu(F.conv2d(x, conv.weight, conv.bias, padding=1)))


@needs_int8
@pytest.mark.parametrize("relu", [False, True])
def test_int8_output_is_close_to_float_but_quantized(relu):
    conv, x = _conv(relu), _input()
    with torch.inference_mode():
        ref = conv(x)
        with int8_compute():
            out = conv(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    # One range for the whole tensor, outliers included, and 8-bit weights: about 1 % error here.
    error = _relative_error(out, ref)
    assert 1e-4 < error < 0.03
    if relu:
        assert out.min() >= 0
    # Zero padding stays zero (not the quantized zero point): the border is no worse than the interior.
    border = (out - ref)[..., 0, :].abs().mean()
    assert border < 2 * (out - ref)[..., 5:15, 5:20].abs().mean()


@needs_int8
def test_layout_and_batch_do_not_change_the_result():
    conv, x = _conv(), _input(batch=3)
    with torch.inference_mode(), int8_compute():
        nchw = conv(x)
        channels_last = conv(x.contiguous(memory_format=torch.channels_last))
        single = conv(x[1:2])
    assert torch.allclose(nchw, channels_last, atol=1e-5)
    # Each call quantizes over its own input's range: one image alone differs from it inside a batch,
    # within the quantization error.
    assert _relative_error(single, nchw[1:2]) < 0.03


@needs_int8
def test_gradients_and_weight_updates_are_respected():
    conv, x = _conv(), _input()
    with int8_compute():
        out = conv(x)  # grad mode: training runs in float
        assert out.requires_grad
        assert torch.equal(out, F.conv2d(x, conv.weight, conv.bias, padding=1))
        with torch.inference_mode():
            before = conv(x)
            conv.weight.mul_(-1.0)  # the packed int8 copy must follow the weight
            conv.bias.mul_(-1.0)
            after = conv(x)
    assert torch.allclose(after, -before, atol=1e-4)


@needs_int8
@pytest.mark.parametrize("batch", [1, 2])
def test_scaled_residual_folds_film_into_the_int8_convolution(batch):
    conv, x = _conv(c_in=32, c_out=32), _input(batch)
    torch.manual_seed(2)
    scale, shift = torch.randn(batch, 32), torch.randn(batch, 32)  # negative scales included
    residual = torch.randn(batch, 32, 20, 28).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        exact = conv.scaled_residual(x, scale, shift, residual.clone())
        torch.testing.assert_close(
            exact, residual + conv(x) * scale[:, :, None, None] + shift[:, :, None, None], atol=1e-5, rtol=1e-5
        )
        with int8_compute():
            fast = conv.scaled_residual(x, scale, shift, residual.clone())
    branch = exact - residual
    assert 1e-4 < _relative_error(fast - residual, branch) < 0.03


@needs_int8
def test_a_model_built_in_inference_mode_computes_in_int8():
    with torch.inference_mode():
        conv, x = _conv(), _input()  # inference tensors carry no version counter
        ref = conv(x)
        with int8_compute():
            assert 1e-4 < _relative_error(conv(x), ref) < 0.03


@needs_int8
@pytest.mark.parametrize(
    ("machine", "avx2", "expected"),
    [("x86_64", True, True), ("AMD64", True, True), ("x86_64", False, False), ("aarch64", True, False)],
)
def test_int8_is_chosen_on_x86_with_avx2(monkeypatch, machine, avx2, expected):
    """int8 beats fp32 on every x86 CPU with AVX2 (1.1-1.3x without VNNI, 2-2.5x with it); elsewhere fp32 stays."""
    monkeypatch.setattr(int8_module.platform, "machine", lambda: machine)
    monkeypatch.setattr(torch.cpu, "_is_avx2_supported", lambda: avx2, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: False, raising=False)
    assert int8_module.int8_is_fast() is expected

import pytest
import torch
import torch.nn.functional as F
from int8_reference import exact_int8, predicted_relative_error, relative_error

from dejpeg.layers import int8 as int8_module
from dejpeg.layers.int8 import (
    EXACT_WEIGHT_LEVELS,
    SATURATION_FREE_WEIGHT_LEVELS,
    Int8Conv2d,
    dot_products_saturate,
    int8_available,
    int8_compute,
    weight_levels,
)

needs_int8 = pytest.mark.skipif(not int8_available(), reason="this PyTorch build cannot run dejpeg's oneDNN int8 calls")


def _conv(relu: bool = False, c_in: int = 32, c_out: int = 48) -> Int8Conv2d:
    torch.manual_seed(0)
    return Int8Conv2d(c_in, c_out, 3, padding=1, relu=relu).eval()


def _input(batch: int = 2, channels: int = 32) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.randn(batch, channels, 20, 28)
    x[0, 3, 5:9, 7:12] = 12.0  # an outlier region, as strong edges put in a residual stream
    return x


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
    # One range for the whole tensor, outliers included: about 2 % error here, as rounding predicts (within
    # 3 % of the prediction on VNNI, AVX-512 and AVX2; 7-bit weights add a tenth of it where needed).
    predicted = predicted_relative_error(conv, x)
    assert 0.8 * predicted < relative_error(out, ref) < 1.2 * predicted
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
    # Each call quantizes over its own input's range (one image alone has a narrower one than the batch
    # with the outlier), and each is exact integer arithmetic on it. The rest is rounding ties and float32
    # output scaling (measured 3e-4); saturated 16-bit pair sums would be off by about 0.16.
    assert relative_error(nchw, exact_int8(conv, x)) < 1e-3
    assert relative_error(single, exact_int8(conv, x[1:2])) < 1e-3


@needs_int8
def test_integer_sums_do_not_saturate_on_any_instruction_set():
    """Without VNNI, oneDNN sums pairs of u8 x s8 products in 16 bits with saturation: 7-bit weights keep
    every pair within int16 (2 x 255 x 63 = 32130), 8-bit weights do not (2 x 255 x 127 = 64770)."""
    expected = SATURATION_FREE_WEIGHT_LEVELS if dot_products_saturate() else EXACT_WEIGHT_LEVELS
    assert weight_levels() == expected
    conv = Int8Conv2d(64, 16, 3, padding=1).eval()
    with torch.inference_mode():
        conv.weight.copy_(conv.weight.sign())  # every weight at the extreme level
        x = torch.ones(1, 64, 10, 10)  # every activation at 255
        x[0, 0, 0, 0] = 0.0
        with int8_compute():
            out = conv(x)
    assert relative_error(out, exact_int8(conv, x)) < 1e-5


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
    # The folded scale and shift act on the exact integer result as on the float one.
    branch = exact_int8(conv, x) * scale[:, :, None, None] + shift[:, :, None, None]
    assert relative_error(fast - residual, branch) < 1e-3


@needs_int8
def test_a_model_built_in_inference_mode_computes_in_int8():
    with torch.inference_mode():
        conv, x = _conv(), _input()  # inference tensors carry no version counter
        ref = conv(x)
        with int8_compute():
            out = conv(x)
    predicted = predicted_relative_error(conv, x)
    assert 0.8 * predicted < relative_error(out, ref) < 1.2 * predicted


@needs_int8
@pytest.mark.parametrize(
    ("machine", "saturates", "expected"),
    [("x86_64", False, True), ("AMD64", False, True), ("x86_64", True, False), ("aarch64", False, False)],
)
def test_auto_chooses_int8_where_its_integer_sums_are_exact(monkeypatch, machine, saturates, expected):
    """int8 is 2-2.5x faster than fp32 with exact 8-bit dot products (VNNI, AMX); without them it needs 7-bit
    weights for 1.1-1.7x, and fp32 stays the automatic choice."""
    monkeypatch.setattr(int8_module.platform, "machine", lambda: machine)
    monkeypatch.setattr(int8_module, "dot_products_saturate", lambda: saturates)
    assert int8_module.int8_is_fast() is expected

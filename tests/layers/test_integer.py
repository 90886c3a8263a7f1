import pytest
import torch
import torch.nn.functional as F

from dejpeg.layers.integer import (
    ACTIVATION_LEVELS,
    EXACT_FLOAT32_LIMIT,
    check_exact_float32,
    quantize_conv,
    requantize,
)


def test_quantized_convolution_is_within_its_rounding_bound():
    torch.manual_seed(0)
    weight, bias = torch.randn(6, 4, 3, 3).double(), torch.randn(6).double()
    scale = 0.01
    x_int = torch.randint(-ACTIVATION_LEVELS, ACTIVATION_LEVELS + 1, (2, 4, 10, 12)).float()
    conv = quantize_conv(weight, bias, scale, ACTIVATION_LEVELS)
    approx = conv(x_int).double() * conv.unit.view(1, -1, 1, 1)
    exact = F.conv2d(x_int.double() * scale, weight, bias, padding=1)
    # Each weight is off by at most half its step (unit / scale), the bias by half a unit.
    bound = F.conv2d(x_int.double().abs() * scale, torch.ones_like(weight), padding=1) * (conv.unit / scale / 2).view(
        1, -1, 1, 1
    ) + (conv.unit / 2).view(1, -1, 1, 1)
    assert ((approx - exact).abs() <= bound + 1e-12).all()
    assert conv.weight.abs().max() > 1000  # as many bits as exactness allows, not 8


def test_worst_case_sums_stay_exact_in_float32():
    """Weights so large that 15 bits would overflow 2**24: the quantizer coarsens them until the worst input's
    sum is exact, which a float32 convolution then computes to the integer (checked in float64)."""
    weight = torch.full((1, 64, 3, 3), 1.0, dtype=torch.float64)
    conv = quantize_conv(weight, None, 1.0, ACTIVATION_LEVELS)
    worst = ACTIVATION_LEVELS * conv.weight.abs().sum()
    assert worst < EXACT_FLOAT32_LIMIT
    x = torch.full((1, 64, 3, 3), float(ACTIVATION_LEVELS))
    acc = conv(x)
    assert acc[0, 0, 1, 1].item() == worst.item()
    reference = F.conv2d(x.double(), conv.weight.double(), padding=1)
    assert torch.equal(acc.double(), reference)


def test_results_do_not_depend_on_batch_or_threads():
    torch.manual_seed(1)
    conv = quantize_conv(torch.randn(16, 16, 3, 3), torch.randn(16), 0.02, ACTIVATION_LEVELS)
    x = torch.randint(-ACTIVATION_LEVELS, ACTIVATION_LEVELS + 1, (32, 16, 16, 24)).float()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        together = conv(x)
        torch.set_num_threads(1)
        alone = torch.cat([conv(x[i : i + 1]) for i in range(len(x))])
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(together, alone)


def test_requantize_rounds_clamps_and_adds_the_skip():
    acc = torch.tensor([[[[10.0]], [[-10.0]], [[1e6]]]])
    multiplier = torch.tensor([0.25, 0.25, 1.0])
    out = requantize(acc, multiplier, 0.1)
    assert out.flatten().tolist() == [2.0, -0.0, ACTIVATION_LEVELS]  # 2.5 -> 2 (half to even); -2.5 * 0.1 -> 0
    skip = torch.full_like(acc, 4.0)
    assert requantize(acc, multiplier, None, skip=skip, skip_multiplier=torch.tensor(0.5)).flatten()[0] == 4.0


def test_reduced_precision_settings_are_refused(monkeypatch):
    check_exact_float32(torch.device("cpu"))
    with pytest.raises(RuntimeError, match="on the CPU"):
        check_exact_float32(torch.device("meta"))
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "medium")
    with pytest.raises(RuntimeError, match="reduced precision"):
        check_exact_float32(torch.device("cpu"))

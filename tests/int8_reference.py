"""A float64 model of what dejpeg's int8 convolution computes when its integer sums are exact, and the error
that rounding alone predicts: the references the int8 tests hold every instruction set to."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dejpeg.layers.int8 import Int8Conv2d, weight_levels


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out - ref).detach().norm() / ref.detach().norm())


def _input_step(x: torch.Tensor) -> tuple[float, int]:
    """The activation quantizer's step and zero point: 255 steps over the tensor's range, zero included."""
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    step = (high - low) / 255
    return step, round(-low / step)


def _dequantized_weight(conv: Int8Conv2d) -> torch.Tensor:
    levels = weight_levels()
    weight = conv.weight.detach().double()
    step = weight.abs().amax(dim=(1, 2, 3), keepdim=True) / levels
    return torch.round(weight / step).clamp(-levels, levels) * step


def exact_int8(
    conv: Int8Conv2d,
    x: torch.Tensor,
    scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """What the int8 convolution computes if its integer sums are exact: the float64 convolution of the
    dequantized input and weights; ``scale``, ``bias`` and ``residual`` as in ``Int8Conv2d._int8_forward``."""
    step, zero_point = _input_step(x)
    x_int = torch.clamp(torch.round(x.double() / step) + zero_point, 0, 255)
    out = F.conv2d(
        (x_int - zero_point) * step,
        _dequantized_weight(conv),
        None,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    )
    if scale is not None:
        out = out * scale.double()[:, None, None]
    bias = conv.bias if bias is None else bias
    if bias is not None:
        out = out + bias.double()[:, None, None]
    if residual is not None:
        out = out + residual.double()
    return (F.relu(out) if conv.relu else out).float()


def predicted_relative_error(conv: Int8Conv2d, x: torch.Tensor) -> float:
    """Relative error from rounding alone: uniform rounding errors (variance step^2 / 12) in the input, each
    weighted by the squared weights it meets, and in the weights, each meeting the input's mean square."""
    input_step, _ = _input_step(x)
    weight = conv.weight.detach().double()
    weight_step = weight.abs().amax(dim=(1, 2, 3)) / weight_levels()
    per_output = input_step**2 / 12 * weight.square().sum(dim=(1, 2, 3))
    per_output += weight_step**2 / 12 * weight[0].numel() * x.double().square().mean()
    with torch.no_grad():
        ref = F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)
    return float((ref[:, 0].numel() * per_output.sum()).sqrt() / ref.norm())

"""Integer convolutions computed exactly in float32, for networks whose outputs must be bit-identical everywhere.

Why: a learned codec's decoder must repeat the encoder's predictions bit for bit, and float convolutions are not
reproducible: their sums run in an order that depends on the thread count, the instruction set and the library,
so the last bits move, and a prediction that rounds the other way corrupts every block decoded after it. Here
weights and activations are integers and every convolution sums integer products whose partial sums, in any
order, stay below 2**24, where float32 holds every integer exactly: the order no longer matters, and the fast
float convolutions of oneDNN or a BLAS give the exact integer result on any thread count and CPU. Between layers
the accumulators are scaled back to 10-bit activations by elementwise multiplications, additions and rounding,
which IEEE 754 defines to the last bit. Transforms that do not sum products (Winograd, FFT: cuDNN may pick them)
or that sum in reduced precision (bf16 or TF32 "fp32") break this: :func:`check_exact_float32` refuses such
settings, and every convolution checks that its accumulators came out as integers.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor

#: Every integer of magnitude up to this is exact in float32 (24-bit significand).
EXACT_FLOAT32_LIMIT = 2**24
#: Activations are integers in [-ACTIVATION_LEVELS, ACTIVATION_LEVELS] (10 bits).
ACTIVATION_LEVELS = 511
#: The finest weight quantization tried: 15 bits, coarsened per channel until its sums are exact.
WEIGHT_LEVELS = 32767


def check_exact_float32(device: torch.device) -> None:
    """Refuse settings under which a float32 convolution does not sum exactly: GPUs (cuDNN may transform with
    Winograd or FFT, and TF32 rounds products) and oneDNN told to compute float32 in bf16 or TF32."""
    if device.type != "cpu":
        raise RuntimeError(f"exact integer convolutions run on the CPU, not {device}")
    mkldnn = torch.backends.mkldnn
    settings = [
        getattr(mkldnn, "fp32_precision", "none"),
        getattr(getattr(mkldnn, "conv", None), "fp32_precision", "none"),
    ]
    if (
        any(setting not in ("none", "ieee") for setting in settings)
        or torch.get_float32_matmul_precision() != "highest"
    ):
        raise RuntimeError(
            "float32 convolutions are set to a reduced precision (torch.backends.mkldnn fp32_precision or "
            "torch.set_float32_matmul_precision): exact integer convolutions need full float32"
        )


@dataclasses.dataclass(frozen=True)
class IntegerConv:
    """A convolution with integer weights and bias, held as float32 integers.

    Attributes:
        weight: (out, in, k, k) integers of at most 15 bits.
        bias: (out,) integers.
        unit: (out,) float64, the real value of one accumulator unit of each output channel (input scale times
            weight scale), to build the requantization multipliers from.
    """

    weight: Tensor
    bias: Tensor
    unit: Tensor

    def __call__(self, x: Tensor) -> Tensor:
        """Exact integer accumulators (float32) of the integer activations ``x``, 'same' zero padding."""
        acc = F.conv2d(x, self.weight, self.bias, padding=self.weight.shape[-1] // 2)
        if not torch.equal(acc, acc.round()):
            raise RuntimeError("a float32 convolution of integers gave fractions: this backend does not sum exactly")
        return acc


def quantize_conv(weight: Tensor, bias: Tensor | None, input_scale: float, input_magnitude: int) -> IntegerConv:
    """Integer weights of a float convolution (batch norm folded in) whose input is ``input_scale`` times integers
    of magnitude at most ``input_magnitude``; one weight scale per output channel.

    Each channel's scale starts at its largest weight over :data:`WEIGHT_LEVELS` and doubles until the worst case
    of its sum, ``input_magnitude`` times the sum of its integer weights' magnitudes plus its bias, stays below
    2**24: as many bits as exactness allows. Every step is an elementwise IEEE operation, a maximum or an integer
    sum, so every machine derives the same integers from the same float weights.
    """
    weight = weight.detach().double()
    bias = torch.zeros(weight.shape[0], dtype=torch.float64) if bias is None else bias.detach().double()
    largest = weight.abs().amax(dim=(1, 2, 3))
    scale = torch.where(largest > 0, largest / WEIGHT_LEVELS, torch.ones_like(largest))
    for _ in range(64):
        unit = input_scale * scale
        weight_int = (weight / scale.view(-1, 1, 1, 1)).round()
        bias_int = (bias / unit).round()
        worst = input_magnitude * weight_int.abs().sum(dim=(1, 2, 3)) + bias_int.abs()
        too_large = worst >= EXACT_FLOAT32_LIMIT
        if not too_large.any():
            return IntegerConv(weight_int.float(), bias_int.float(), unit)
        scale = torch.where(too_large, scale * 2, scale)
    raise ValueError("weights too large to quantize exactly (bias beyond 2**24 accumulator units)")


def requantize(
    acc: Tensor,
    multiplier: Tensor,
    negative_slope: float | None,
    skip: Tensor | None = None,
    skip_multiplier: float = 1.0,
    low: int = -ACTIVATION_LEVELS,
    high: int = ACTIVATION_LEVELS,
    offset: float = 0.0,
) -> Tensor:
    """The next layer's integers: ``round(leaky(acc * multiplier + skip * skip_multiplier) + offset)`` clamped to
    ``[low, high]``, with one multiplier per channel; each step is one elementwise float32 operation (no fused
    multiply-add), so the result is the same on every machine."""
    x = acc * multiplier.view(1, -1, 1, 1)
    if skip is not None:
        x = x + skip * skip_multiplier
    if negative_slope is not None:
        x = F.leaky_relu(x, negative_slope)
    if offset:
        x = x + offset
    return x.round().clamp(low, high)

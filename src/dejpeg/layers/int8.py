"""int8 convolutions with dynamic activation ranges, for x86 CPUs (fastest with 8-bit dot-product instructions).

Why: on x86 CPUs without native bf16 (most of them) a 3x3 convolution computes several times faster in int8
(AVX512-VNNI / AVX-VNNI through oneDNN) than in fp32; with AVX2 alone (7-bit weights, see
:data:`EXACT_WEIGHT_LEVELS`) a whole restore gains less (measured: ``benchmarks/results/README.md``).
Each call quantizes its input to uint8 over
that tensor's own range (dynamic: no calibration, so an image with unusually strong edges is not clipped),
multiplies with per-output-channel int8 weights and
returns fp32, so residual streams, skips and everything outside the convolution stay in float.

Layers opt in by being :class:`Int8Conv2d`; they compute in int8 only inside :func:`int8_compute`,
and as an ordinary ``nn.Conv2d`` otherwise (training, fp32, bf16).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import platform
import warnings
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("dejpeg_int8_compute", default=False)
#: Symmetric weight levels, one scale per output channel. 127 (8 bits, as the shipped int8 storage) where the
#: CPU accumulates u8 x s8 products exactly (VNNI, AMX); 63 (7 bits) where it sums pairs of them in 16 bits with
#: saturation first (``vpmaddubsw``: AVX2, AVX-512 without VNNI): 2 * 255 * 63 = 32130 fits in int16, while
#: 2 * 255 * 127 = 64770 does not and a saturated sum is wrong by up to half its value. oneDNN's own int8
#: recipes for those CPUs reduce the weights to 7 bits in the same way.
EXACT_WEIGHT_LEVELS = 127
SATURATION_FREE_WEIGHT_LEVELS = 63


@functools.cache
def int8_available() -> bool:
    """Whether this PyTorch build runs oneDNN's quantized convolutions as this module calls them, plain and with a
    residual added (x86 builds of torch 2.13 do; torch 2.4 has another signature for the second): elsewhere
    everything stays float."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv2d_pointwise")):
        return False
    probe = Int8Conv2d(1, 1, 1)
    probe.weight_levels = EXACT_WEIGHT_LEVELS
    x = torch.ones(1, 1, 2, 2)
    try:
        with torch.inference_mode():
            probe._int8_forward(x)
            probe._int8_forward(x, torch.ones(1, dtype=torch.double), torch.zeros(1), torch.zeros_like(x))
    except (RuntimeError, TypeError, AttributeError):
        return False
    return True


@functools.cache
def dot_products_saturate() -> bool:
    """Whether oneDNN's int8 convolution here sums pairs of u8 x s8 products in 16 bits with saturation.

    Measured, not looked up: the instruction set oneDNN uses depends on the CPU and on ``ONEDNN_MAX_CPU_ISA``,
    which CPU flags do not show. A 3x3 convolution of 32 channels of 255s with weights of 127 sums 288 products
    of 32385 exactly (VNNI, AMX) or, pairwise saturated at 32767, to about half of that.
    """
    if not int8_available():
        return False
    probe = Int8Conv2d(32, 8, 3, padding=1, bias=False)
    probe.weight_levels = EXACT_WEIGHT_LEVELS
    with torch.inference_mode():
        probe.weight.fill_(1.0)
        out = probe._int8_forward(torch.ones(1, 32, 8, 8))  # input range [0, 1]: every activation is 255
    exact = 9 * 32  # scales cancel: the float result is the sum of 288 products of 1 x 1
    return bool(abs(float(out[0, 0, 4, 4]) - exact) > 0.01 * exact)


def weight_levels() -> int:
    """Weight levels for int8 compute on this machine (see :data:`EXACT_WEIGHT_LEVELS`)."""
    return SATURATION_FREE_WEIGHT_LEVELS if dot_products_saturate() else EXACT_WEIGHT_LEVELS


def int8_is_fast() -> bool:
    """Whether ``precision="auto"`` should compute in int8 here: x86 CPUs whose 8-bit dot products are exact
    (AVX512-VNNI, AVX-VNNI, AMX): there int8 is within 0.003 dB of fp32 and much faster. Without VNNI (AVX2,
    AVX-512 alone) int8 needs 7-bit weights (:func:`weight_levels`), gains little and loses 2-3x more PSNR, so
    "auto" keeps fp32 there and ``precision="int8"`` remains available (``benchmarks/results/README.md``)."""
    if not int8_available() or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return not dot_products_saturate()


@contextlib.contextmanager
def int8_compute() -> Iterator[None]:
    """Within this context every :class:`Int8Conv2d` on the CPU computes in int8."""
    if not int8_available():
        raise RuntimeError("int8 compute needs a PyTorch build with oneDNN (x86)")
    token = _ENABLED.set(True)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def _uint8_alias(quantized: Tensor) -> Tensor:
    """The bytes of a quint8 tensor as a plain uint8 tensor, without a copy (``int_repr`` copies: on a 1 MP
    image's block features it took longer than the quantization; ``view(torch.uint8)`` crashes in torch 2.13)."""
    return torch.empty(0, dtype=torch.uint8).set_(
        quantized.untyped_storage(), quantized.storage_offset(), quantized.shape, quantized.stride()
    )


class Int8Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (followed by a ReLU if ``relu``) that computes in int8 inside :func:`int8_compute`
    (inference only); the ReLU is then fused into the convolution.

    For layers whose inputs are well spread over their range, such as the convolutions inside residual
    blocks; a layer whose input channels differ in scale by orders of magnitude (DCT coefficients) loses
    its small inputs to a single activation scale and should stay a plain ``nn.Conv2d``.
    """

    _packed: tuple[int, int, Tensor, Tensor] | None = None  # (weight ptr, weight version, packed, scales)
    weight_levels: int | None = None  # None: what this machine computes exactly (:func:`weight_levels`)

    def __init__(self, *args: Any, relu: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.relu = relu

    def _computes_int8(self, x: Tensor) -> bool:
        return _ENABLED.get() and x.device.type == "cpu" and not torch.is_grad_enabled()

    def forward(self, x: Tensor) -> Tensor:
        if not self._computes_int8(x):
            out = super().forward(x)
            return F.relu(out) if self.relu else out
        return self._int8_forward(x.float())

    def scaled_residual(self, x: Tensor, scale: Tensor, shift: Tensor, residual: Tensor) -> Tensor:
        """``residual + self(x) * scale + shift`` with (B, C_out) ``scale`` and ``shift`` (a FiLM residual branch).

        In int8 on one image, the scale and shift fold into the weights' scales and the bias and oneDNN adds
        the convolution into ``residual``'s memory as it writes (torch 2.13's op then returns a copy of it; an
        in-place add after a plain convolution measured no faster), so ``residual`` must not be used afterwards
        (a residual stream's old value).
        """
        if self.relu or not self._computes_int8(x) or x.shape[0] != 1:
            return torch.addcmul(residual + shift[:, :, None, None], self(x), scale[:, :, None, None])
        scale, shift = scale[0].double(), shift[0].float()
        bias = shift if self.bias is None else self.bias.float() * scale.float() + shift
        return self._int8_forward(x.float(), scale, bias, residual.float())

    def _packed_weight(self, input_shape: torch.Size) -> tuple[Tensor, Tensor]:
        """The weight as int8 per output channel, packed for oneDNN once (repacked if it changes)."""
        # The version counter catches in-place updates (an optimizer step between validations); weights made in
        # inference mode have none, and cannot be changed outside it.
        key = (self.weight.data_ptr(), -1 if self.weight.is_inference() else self.weight._version)
        if self._packed is None or self._packed[:2] != key:
            levels = self.weight_levels or weight_levels()
            weight = self.weight.detach().float()
            scales = weight.abs().amax(dim=(1, 2, 3)).clamp(min=1e-12) / levels
            quantized = torch.round(weight / scales[:, None, None, None]).clamp(-levels, levels)
            packed = torch.ops.onednn.qconv_prepack(
                quantized.to(torch.int8),
                scales.double(),
                1.0,
                0,
                list(self.stride),
                list(self.padding),
                list(self.dilation),
                self.groups,
                list(input_shape),
            )
            self._packed = (*key, packed, scales.double())
        return self._packed[2], self._packed[3]

    def _int8_forward(
        self, x: Tensor, scale: Tensor | None = None, bias: Tensor | None = None, residual: Tensor | None = None
    ) -> Tensor:
        """Quantize ``x`` over its range and convolve in int8; ``scale`` (per output channel) multiplies the
        result, ``bias`` replaces the layer's, ``residual`` is added (see :meth:`scaled_residual`)."""
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError("int8 compute supports explicit zero padding only")
        # aminmax is 10x slower on a channels-last tensor than on the same memory seen as NHWC-contiguous.
        flat = x.permute(0, 2, 3, 1) if x.is_contiguous(memory_format=torch.channels_last) else x
        low, high = torch.aminmax(flat)
        low, high = min(float(low), 0.0), max(float(high), 0.0)  # zero must be exact (it is the padding)
        input_scale = max(high - low, 1e-8) / 255.0
        zero_point = int(round(-low / input_scale))
        with warnings.catch_warnings():  # deprecated in 2.13 in favour of PT2E; still oneDNN's fastest quantizer
            warnings.simplefilter("ignore", UserWarning)
            quantized = _uint8_alias(torch.quantize_per_tensor(x, input_scale, zero_point, torch.quint8))
        packed, weight_scales = self._packed_weight(x.shape)
        if scale is not None:
            weight_scales = weight_scales * scale
        if bias is None and self.bias is not None:
            bias = self.bias.float()
        common = (list(self.stride), list(self.padding), list(self.dilation), self.groups, 1.0, 0, torch.float32)
        quantized = quantized.contiguous(memory_format=torch.channels_last)
        zero_points = torch.zeros_like(weight_scales, dtype=torch.long)
        if residual is None:
            return torch.ops.onednn.qconv2d_pointwise(
                quantized, input_scale, zero_point, packed, weight_scales, zero_points, bias, *common,
                "relu" if self.relu else "none", [], "",
            )  # fmt: skip
        return torch.ops.onednn.qconv2d_pointwise.binary(
            quantized, input_scale, zero_point, packed, weight_scales, zero_points,
            residual.contiguous(memory_format=torch.channels_last), bias, *common,
            1.0, 0, "sum", 1.0, "none", [], "",
        )  # fmt: skip

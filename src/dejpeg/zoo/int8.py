"""8-bit storage of shipped weights: half the size of float16 at the precision inference already uses.

Each weight matrix or kernel (a tensor of 2+ dims) is stored as int8 with one float32 scale per output
channel (symmetric, max-abs); biases and other vectors stay float16. Per-channel int8 keeps about as
many significant bits as bfloat16 (8), which is what ``precision="auto"`` runs the convolutions in on CPUs
with native bf16; on CPUs with VNNI, int8 compute (:mod:`dejpeg.layers.int8`) multiplies with these very integers.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Suffix of the key holding a quantized tensor's per-output-channel scales.
SCALE_SUFFIX = ".int8_scale"
LEVELS = 127


def quantize_state(state: dict[str, Tensor], keep_float: tuple[str, ...] = ()) -> dict[str, Tensor]:
    """int8 + per-output-channel scale for float tensors of 2+ dims, float16 for other floats.

    ``keep_float``: tensors whose name contains one of these stay float16; for layers whose inputs
    differ widely in scale, so that one scale per output channel loses the small weights that matter
    (DejpegNet's ``entry`` sees DC and high-frequency coefficients: int8 there cost 0.1-0.3 dB).
    """
    out: dict[str, Tensor] = {}
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            out[name] = tensor
        elif tensor.dim() < 2 or any(part in name for part in keep_float):
            out[name] = tensor.half()
        else:
            weight = tensor.float()
            scale = weight.abs().amax(dim=tuple(range(1, weight.dim())), keepdim=True).clamp(min=1e-12) / LEVELS
            out[name] = torch.round(weight / scale).clamp(-LEVELS, LEVELS).to(torch.int8)
            out[name + SCALE_SUFFIX] = scale.flatten()
    return out


def dequantize_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`quantize_state` (float32 out); a state without int8 tensors passes unchanged."""
    out = {name: tensor for name, tensor in state.items() if not name.endswith(SCALE_SUFFIX)}
    for name in out:
        scale = state.get(name + SCALE_SUFFIX)
        if scale is not None:
            shape = (-1,) + (1,) * (out[name].dim() - 1)
            out[name] = out[name].float() * scale.float().view(shape)
    return out

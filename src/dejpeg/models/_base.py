"""The contract every restoration model follows, so one engine, one CLI and one evaluator serve all."""

from __future__ import annotations

import contextlib
import warnings
from typing import ClassVar

import torch
from torch import Tensor, nn

from dejpeg.layers.int8 import Int8Conv2d, int8_available, int8_compute, int8_is_fast

PRECISIONS = ("auto", "fp32", "bf16", "int8")


class RestorationModel(nn.Module):
    """Maps a decoded JPEG to its restoration.

    ``forward(image, qtables)``:
        image: (B, C, H, W) float in [0, 1]; C == 1 (luma/gray) or 3 (RGB). H and W are multiples of
            ``size_multiple`` (callers pad, aligned to the JPEG grid, see ``dejpeg.restore``).
        qtables: (B, 2, 8, 8) float quantization tables (luma, chroma) in raster order, the values
            written in the file (1..255); models with ``uses_qtables = False`` ignore them.
        returns: same shape as ``image``, unclamped.
    """

    #: "any": gray and RGB inputs; "gray": one channel only (RGB callers restore Y and keep chroma).
    channels: ClassVar[str] = "any"
    uses_qtables: ClassVar[bool] = False
    size_multiple: ClassVar[int] = 8
    #: True when the model keeps its precision-critical parts (colour and DCT transforms, skips) in fp32,
    #: so callers may run it under a bf16 autocast (the network 1.7-2x faster on CPUs with native bf16).
    autocast_safe: ClassVar[bool] = False

    def forward(self, image: Tensor, qtables: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def load_smaller_state(self, state: dict[str, Tensor]) -> None:
        """Load the weights of this architecture built with fewer channels or layers so that this larger copy
        computes the same function: a warm start that adds capacity without losing what was learned (Net2Net)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be warm-started from a smaller copy")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (AVX512-BF16 or AMX CPUs, Ampere+ GPUs); elsewhere bf16 is
    emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private in torch 2.x: absent -> False
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def resolve_precision(model: nn.Module, device: torch.device | str, precision: str = "auto") -> str:
    """What ``precision`` means for ``model`` on ``device``: "fp32", "bf16" or "int8".

    "auto" = bf16 where the model is ``autocast_safe`` and the device computes bf16 natively; else int8 where
    the model has :class:`~dejpeg.layers.int8.Int8Conv2d` layers and the CPU sums 8-bit products exactly (x86
    with VNNI or AMX); else fp32. "int8" asks for int8 convolutions where the model allows them (the rest runs in fp32).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    has_int8 = any(isinstance(m, Int8Conv2d) for m in model.modules())
    if precision == "int8":
        if not has_int8:
            raise ValueError(f"{type(model).__name__} has no int8 layers: use precision fp32, bf16 or auto")
        if device.type != "cpu" or not int8_available():
            raise ValueError("int8 compute needs the CPU and a PyTorch build with oneDNN (x86)")
    if precision == "bf16" and not native_bf16(device):
        _warn_emulated_bf16(device)
    if precision != "auto":
        return precision
    if getattr(model, "autocast_safe", False) and native_bf16(device):
        return "bf16"
    if has_int8 and device.type == "cpu" and int8_is_fast():
        return "int8"
    return "fp32"


def _warn_emulated_bf16(device: torch.device) -> None:
    """Warn from this one line, so Python's once-per-location filter shows it once however many tiles and
    images resolve the precision again."""
    warnings.warn(
        f"{device} has no native bf16 (AVX512-BF16 or AMX on CPUs, Ampere or newer GPUs): it is emulated, "
        'several times slower than fp32; precision "auto" picks the fastest',
        stacklevel=1,
    )


def autocast_for(
    model: nn.Module, device: torch.device | str, precision: str = "auto"
) -> torch.autocast | contextlib.AbstractContextManager[None]:
    """The context to run ``model`` in for ``precision`` (see :func:`resolve_precision`). Measured: bf16 on an
    AVX512-BF16 CPU runs the network 1.7-2x faster and JPEG to PNG 1.6x (v6 default, 1 MP), no loss in PSNR;
    int8 on an AVX512-VNNI Xeon without bf16 runs it 2.5x faster than fp32 (1.1-1.5x with AVX2 alone, on request)."""
    device = torch.device(device)
    resolved = resolve_precision(model, device, precision)
    if resolved == "int8":
        return int8_compute()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=resolved == "bf16")

"""The arithmetic a model does, counted where it happens: the multiply-accumulates of its convolutions and linear
layers, by forward hooks, for any architecture (layers at reduced resolution count at theirs)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


def count_macs(model: nn.Module, forward: Callable[[], object]) -> int:
    """Multiply-accumulates of the ``nn.Conv2d`` and ``nn.Linear`` modules of ``model`` (subclasses included)
    while ``forward()`` runs; what happens in functional calls (``F.conv2d``) is not counted."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * module.in_channels // module.groups * kh * kw
        else:
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        forward()
    finally:
        for handle in handles:
            handle.remove()
    return total

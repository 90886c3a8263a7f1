"""A classical JPEG decoder in the spirit of jpeg2png: the smoothest image that codes to the same file.

Why: the anchor users without a network reach for, and a fair classical baseline. A JPEG file does not fix an
image, only an interval for each DCT coefficient, ``[(c - 1/2) q, (c + 1/2) q]``; the usual decoder takes the
centres, which leaves blocking and ringing. Among all images inside the intervals this decoder picks one that
minimises total variation plus a second-order term, so edges stay sharp and the block edges go.

Objective, on the JFIF YCbCr planes ``u_c`` (8-bit scale) of the whole padded image, chroma at full resolution::

    E(u) = TV(u) + w TV2(u)
    TV(u)  = sum_pixels sqrt(sum_c |D u_c|^2 + eps^2) / sqrt(C)
    TV2(u) = sum_pixels sqrt(sum_c (u_xx^2 + 2 u_xy^2 + u_yy^2) + eps^2) / sqrt(2 C)

with forward differences ``D`` (zero past the last row and column), second differences as backward differences of
those, ``u_xy`` symmetrised (TGV-like), the channels coupled in one norm. Solver, as jpeg2png's: FISTA on
normalised (sub)gradient steps of fixed length ``step * sqrt(H W) / 2 / sqrt(1 + iterations)`` per plane (a
per-pixel RMS move of ``step / (2 sqrt(1 + iterations))`` grey levels), each followed by the projection onto the
file's intervals (:func:`dejpeg.jpeg.consistency.project_plane`). Subsampled chroma is optimised at full
resolution and projected through the average pooling of the encoder, as jpeg2png does, so the result needs no
upsampler. The start is the decoded image given, projected. Deterministic; no training. jpeg2png's optional
coefficient-distance term (``pweight``) is left out.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from dejpeg.jpeg.color import rgb_to_ycbcr_jfif, ycbcr_jfif_to_rgb
from dejpeg.jpeg.consistency import project_plane
from dejpeg.models._base import JpegSide, RestorationModel
from dejpeg.models._registry import register_model

#: Smoothing of the norms, in grey levels: keeps the gradient finite on flat areas.
EPS = 0.01


def _forward(u: Tensor, dim: int) -> Tensor:
    """Forward difference along ``dim`` (-1: x, -2: y), zero at the last index."""
    n = u.shape[dim]
    diff = u.narrow(dim, 1, n - 1) - u.narrow(dim, 0, n - 1)
    return torch.cat([diff, torch.zeros_like(u.narrow(dim, 0, 1))], dim=dim)


def _forward_adjoint(p: Tensor, dim: int) -> Tensor:
    """Adjoint of :func:`_forward`: ``p[i - 1] - p[i]`` with ``p[-1] = p[n - 1] = 0``."""
    n = p.shape[dim]
    inner = p.narrow(dim, 0, n - 1)
    return F.pad(inner, _pad(dim, 1, 0)) - F.pad(inner, _pad(dim, 0, 1))


def _backward(u: Tensor, dim: int) -> Tensor:
    """Backward difference along ``dim``, zero at the first index."""
    n = u.shape[dim]
    diff = u.narrow(dim, 1, n - 1) - u.narrow(dim, 0, n - 1)
    return torch.cat([torch.zeros_like(u.narrow(dim, 0, 1)), diff], dim=dim)


def _backward_adjoint(p: Tensor, dim: int) -> Tensor:
    """Adjoint of :func:`_backward`: ``p[i] - p[i + 1]`` with ``p[0] = p[n] = 0``."""
    n = p.shape[dim]
    inner = p.narrow(dim, 1, n - 1)
    return F.pad(inner, _pad(dim, 1, 0)) - F.pad(inner, _pad(dim, 0, 1))


def _pad(dim: int, before: int, after: int) -> tuple[int, ...]:
    """``F.pad`` widths for the last (-1) or second-to-last (-2) dimension."""
    return (before, after) if dim == -1 else (0, 0, before, after)


def smoothness(u: Tensor, second_order_weight: float) -> tuple[Tensor, Tensor]:
    """The objective ``E(u)`` per image and its gradient, for (B, C, H, W) planes in grey levels.

    Returns:
        (B,) objective values and the (B, C, H, W) gradient.
    """
    channels = u.shape[1]
    gx, gy = _forward(u, -1), _forward(u, -2)
    norm = (gx.square() + gy.square()).sum(1, keepdim=True).add(EPS**2).sqrt()
    alpha = 1.0 / math.sqrt(channels)
    energy = alpha * norm.flatten(1).sum(1)
    grad = alpha * (_forward_adjoint(gx / norm, -1) + _forward_adjoint(gy / norm, -2))
    if second_order_weight:
        gxx, gyy = _backward(gx, -1), _backward(gy, -2)
        gxy = (_backward(gx, -2) + _backward(gy, -1)) / 2
        norm2 = (gxx.square() + 2 * gxy.square() + gyy.square()).sum(1, keepdim=True).add(EPS**2).sqrt()
        alpha2 = second_order_weight / math.sqrt(2 * channels)
        energy = energy + alpha2 * norm2.flatten(1).sum(1)
        gxx, gyy, gxy = gxx / norm2, gyy / norm2, gxy / norm2
        grad = grad + alpha2 * (
            _forward_adjoint(_backward_adjoint(gxx, -1), -1)
            + _forward_adjoint(_backward_adjoint(gyy, -2), -2)
            + _forward_adjoint(_backward_adjoint(gxy, -2), -1)
            + _forward_adjoint(_backward_adjoint(gxy, -1), -2)
        )
    return energy, grad


class TvDecoder(RestorationModel):
    """The smoothest (TV + second order) image inside the file's quantization intervals; nothing to train.

    Args:
        iterations: projected FISTA steps (the cost is linear in them). More is smoother, not better: on 10
            BSDS500 gray images the PSNR gain at Q10 / Q20 is +0.48 / +0.59 dB at 10 (the default), +0.72 / +0.44
            at 25, +0.52 / +0.04 at 50 (jpeg2png's default), +0.13 / -0.20 at 100.
        step: step length, in jpeg2png's unit (1 = jpeg2png).
        second_order_weight: ``w``, the weight of the second-order term (jpeg2png's default 0.3; 0 = plain TV).
    """

    channels: ClassVar[str] = "any"
    side_info: ClassVar[frozenset[str]] = frozenset({"qtables", "coefficients"})

    def __init__(self, iterations: int = 10, step: float = 1.0, second_order_weight: float = 0.3) -> None:
        super().__init__()
        if iterations < 0 or not step > 0 or second_order_weight < 0:
            raise ValueError("iterations >= 0, step > 0 and second_order_weight >= 0")
        self.iterations, self.step, self.second_order_weight = iterations, step, second_order_weight

    def _project(self, planes: Tensor, side: JpegSide) -> Tensor:
        """Every plane of every image into its file's intervals, at the component's coded resolution."""
        max_v = max(v for v, _ in side.sampling)
        max_h = max(h for _, h in side.sampling)
        projected = [
            torch.stack(
                [
                    project_plane(planes[b, c], quantized[b], side.qtables[b, min(c, 1)], (max_v // v, max_h // h))
                    for c, (quantized, (v, h)) in enumerate(zip(side.coefficients, side.sampling))
                ]
            )
            for b in range(planes.shape[0])
        ]
        return torch.stack(projected)

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        if side.coefficients is None or len(side.coefficients) != image.shape[1]:
            raise ValueError(f"{type(self).__name__} needs the file's coefficients, one component per channel")
        colour = image.shape[1] == 3
        planes = (rgb_to_ycbcr_jfif(image) if colour else image) * 255.0 - 128.0
        height, width = planes.shape[-2:]
        length = self.step * math.sqrt(height * width) / 2 / math.sqrt(1 + self.iterations)
        current = previous = self._project(planes, side)
        t = 1.0
        for _ in range(self.iterations):
            t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
            point = current + (t - 1) / t_next * (current - previous)
            grad = smoothness(point, self.second_order_weight)[1]
            grad = grad / grad.flatten(2).norm(dim=2).clamp_min(1e-12)[..., None, None]
            previous, current, t = current, self._project(point - length * grad, side), t_next
        restored = (current + 128.0) / 255.0
        return ycbcr_jfif_to_rgb(restored) if colour else restored


register_model(
    "tv_decoder",
    TvDecoder,
    paper="jpeg2png (Victor van den Elzen); Bredies et al. 2010 (TGV)",
    use="any JPEG, no training: the smoothest image inside the file's quantization intervals (classical baseline)",
    needs_weights=False,
)

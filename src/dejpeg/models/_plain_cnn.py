"""Plain chains of 'same' convolutions on the luma, as in the early CNN restorers (ARCNN, Svoboda et al.'s L4/L8):
one class and one training recipe, so each family module is only its layer table and its paper's defaults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from dejpeg.models._base import JpegSide, RestorationModel
from dejpeg.models._task import TaskSettings, TrainingTask

#: (kernel size, output channels) of each convolution, first to last; the last has one output (the luma).
LayerTable = Sequence[tuple[int, int]]


class PlainCnnTask(TrainingTask):
    """The papers' recipe: the last layer learns 10x slower than the others (ARCNN, Svoboda et al.), which keeps a
    high base learning rate from throwing the small-initialised output layer around.

    ``task_options``: ``optimizer`` "adam" (default) or "sgd"; ``momentum`` (SGD, default 0.9);
    ``last_lr_scale`` (default 0.1), the last layer's share of the learning rate.
    """

    OPTIONS: ClassVar[frozenset[str]] = frozenset({"optimizer", "momentum", "last_lr_scale"})

    def __init__(self, model: PlainCnn, settings: TaskSettings) -> None:
        unknown = set(settings.options) - self.OPTIONS
        if unknown:
            raise ValueError(f"unknown task_options {sorted(unknown)}; known: {sorted(self.OPTIONS)}")
        if settings.options.get("optimizer", "adam") not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {settings.options['optimizer']!r}")
        super().__init__(model, settings)

    def param_groups(self) -> list[dict[str, object]]:
        """The trainable parameters in two groups: the body at ``lr``, the last layer at ``lr * last_lr_scale``."""
        last = {id(p) for p in self.model.convs[-1].parameters()}
        trainable = self.trainable_parameters()
        lr, scale = self.settings.lr, float(self.settings.options.get("last_lr_scale", 0.1))
        groups = [
            {"params": [p for p in trainable if id(p) not in last], "lr": lr},
            {"params": [p for p in trainable if id(p) in last], "lr": lr * scale},
        ]
        return [group for group in groups if group["params"]]

    def configure_optimizers(self) -> tuple[list[Optimizer], list[LRScheduler]]:
        options = self.settings.options
        if options.get("optimizer", "adam") == "sgd":
            optimizer: Optimizer = torch.optim.SGD(self.param_groups(), momentum=float(options.get("momentum", 0.9)))
        else:
            optimizer = torch.optim.Adam(self.param_groups())
        return [optimizer], [LambdaLR(optimizer, self.settings.lr_lambda)]


class PlainCnn(RestorationModel):
    """Convolutions with ReLU between, on gray [0, 1] pixels (a colour file's luma); no tables, so a model serves
    the one quality it was trained at (see :class:`~dejpeg.models.PerQualityModel`).

    Args:
        layers: the layer table.
        skips: indices of the layers whose input also gets the first layer's activations (concatenated), the skip
            architecture of Svoboda et al.'s L8.
        residual: predict a correction added to the input (True) or the image itself (False).
        symmetric_init: zero-mean filters (Svoboda et al.'s symmetric initialisation): Xavier for every layer but
            the last, a Gaussian of ``last_std`` for the last, each filter then centred. False keeps the same
            draws uncentred.
        last_std: the standard deviation of the last layer's initial weights; small, so a residual model starts
            near the identity.

    Padding replicates the border: a zero frame would be a strong false edge at every image border, which a
    model trained on crops would have to learn to ignore.
    """

    channels = "gray"
    side_info = frozenset()
    training_task = PlainCnnTask

    def __init__(
        self,
        layers: LayerTable,
        skips: Sequence[int] = (),
        residual: bool = True,
        symmetric_init: bool = True,
        last_std: float = 1e-3,
    ) -> None:
        super().__init__()
        if len(layers) < 2 or layers[-1][1] != 1 or any(k % 2 == 0 for k, _ in layers):
            raise ValueError(f"two or more layers, odd kernels, one output channel at the end; got {list(layers)}")
        if any(not 0 < i < len(layers) for i in skips):
            raise ValueError(f"skips must name layers after the first, got {list(skips)}")
        self.skips = frozenset(skips)
        self.residual = residual
        convs = []
        in_ch = 1
        for i, (kernel, out_ch) in enumerate(layers):
            extra = layers[0][1] if i in self.skips else 0
            convs.append(nn.Conv2d(in_ch + extra, out_ch, kernel, padding=kernel // 2, padding_mode="replicate"))
            in_ch = out_ch
        self.convs = nn.ModuleList(convs)
        self._initialise(symmetric_init, last_std)

    def _initialise(self, symmetric: bool, last_std: float) -> None:
        for conv in self.convs[:-1]:
            nn.init.xavier_uniform_(conv.weight)
        nn.init.normal_(self.convs[-1].weight, std=last_std)
        with torch.no_grad():
            for conv in self.convs:
                nn.init.zeros_(conv.bias)
                if symmetric:
                    conv.weight.sub_(conv.weight.mean(dim=(1, 2, 3), keepdim=True))

    def macs_per_pixel(self) -> int:
        """Multiply-accumulates per pixel, from the layer shapes: every layer runs at full resolution, so it is the
        sum over the convolutions of k * k * c_in * c_out (the weights' sizes)."""
        return sum(conv.weight.numel() for conv in self.convs)

    def forward(self, image: Tensor, side: JpegSide | None = None) -> Tensor:
        if image.shape[1] != 1:
            raise ValueError(f"{type(self).__name__} restores one channel (luma), got {image.shape[1]}")
        first = x = F.relu(self.convs[0](image))
        for i, conv in enumerate(self.convs[1:], start=1):
            x = conv(torch.cat([x, first], dim=1) if i in self.skips else x)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return image + x if self.residual else x

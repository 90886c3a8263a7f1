"""BlockCNN of Maleki, Nadalian, Derakhshani and Sadeghi, "BlockCNN: A Deep Network for Artifact Removal and Image
Compression" (CVPR Workshops 2018): one network per 8x8 JPEG block, seeing the blocks around it.

Two members share one body (a convolution, then residual blocks of convolution, batch norm and leaky ReLU; the
paper used 9, MSE and Adam at 1e-3 with weight decay 1e-4):

- ``blockcnn`` removes artifacts: each block with its 8 neighbours (a 24x24 window) in, the correction of the
  centre block out (a residual, as in the paper), for every block of the image in one batch. It restores the luma
  (a colour file's chroma is kept, as for the other paper families here): the luma carries the detail and most of
  the blocking, while 4:2:0 chroma has its blocks on a 16-pixel grid, another problem with little to gain.
- ``blockcnn_predictor`` predicts a block from the decoded blocks before it (top-left, top, top-right, left: a
  16x24 causal context, the block itself unknown), the predictor of the BlockCNN codec
  (:mod:`dejpeg.blockcodec`). Trained on JPEG-decoded contexts, so it expects the coding noise of the blocks it
  will see. :meth:`BlockCnnPredictor.to_integer` gives its exact integer form, which the codec runs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from dejpeg.layers.context import blocks_with_context, causal_context, fold_blocks
from dejpeg.layers.integer import (
    ACTIVATION_LEVELS,
    IntegerConv,
    check_exact_float32,
    quantize_conv,
    requantize,
)
from dejpeg.models._base import JpegSide, RestorationModel
from dejpeg.models._registry import register_model
from dejpeg.models._task import TrainingTask

PAPER = "Maleki et al. 2018, BlockCNN: A Deep Network for Artifact Removal and Image Compression"
BLOCK = 8
NEGATIVE_SLOPE = 0.1
#: Windows per forward pass at inference: bounds memory on large images (a 1024x1024 tile has 16,384 blocks), and
#: keeps each activation (64 x 64 x 24 x 24 floats, 9.4 MB) below glibc's mmap threshold, so that its buffers are
#: reused rather than mapped and zeroed anew: a 480x320 image took 25 s in fp32 and 11-14 s in bf16 (one thread,
#: AMX Xeon) in chunks of 64, against 45 s and 19-23 s in chunks of 1,024, half of which was system time.
INFERENCE_CHUNK = 64
#: Momentum of the running activation ranges the integer predictor is scaled by (as batch norm's statistics).
RANGE_MOMENTUM = 0.1

#: Called with (activation index, activation) at each point the integer form requantizes.
Observer = Callable[[int, Tensor], None]


class BlockCnnTask(TrainingTask):
    """The paper's recipe: Adam with weight decay (``task_options.weight_decay``, default 1e-4) on the run's loss."""

    def configure_optimizers(self) -> tuple[list[Optimizer], list[LRScheduler]]:
        unknown = set(self.settings.options) - {"weight_decay"}
        if unknown:
            raise ValueError(f"unknown task_options {sorted(unknown)}; known: ['weight_decay']")
        decay = float(self.settings.options.get("weight_decay", 1e-4))
        optimizer = torch.optim.Adam(self.trainable_parameters(), lr=self.settings.lr, weight_decay=decay)
        return [optimizer], [LambdaLR(optimizer, self.settings.lr_lambda)]


class ResidualBlock(nn.Module):
    """conv-BN-leaky-conv-BN plus the input, then leaky ReLU."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x: Tensor, observe: Observer, index: int) -> Tensor:
        h = F.leaky_relu(self.bn1(self.conv1(x)), NEGATIVE_SLOPE)
        observe(index, h)
        out = F.leaky_relu(x + self.bn2(self.conv2(h)), NEGATIVE_SLOPE)
        observe(index + 1, out)
        return out


class BlockCnnBody(nn.Module):
    """Stem convolution, ``blocks`` residual blocks and a head convolution, all 3x3 with 'same' zero padding on one
    window; one input and one output channel (a plane)."""

    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        if width < 1 or blocks < 0:
            raise ValueError(f"width >= 1 and blocks >= 0, got {width} and {blocks}")
        self.stem = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(width)
        self.blocks = nn.ModuleList(ResidualBlock(width) for _ in range(blocks))
        self.head = nn.Conv2d(width, 1, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # start from "no correction" / a flat prediction
        nn.init.zeros_(self.head.bias)

    @property
    def activations(self) -> int:
        """The number of activations the integer form requantizes (stem, then two per residual block)."""
        return 1 + 2 * len(self.blocks)

    def forward(self, x: Tensor, observe: Observer | None = None) -> Tensor:
        observe = observe or (lambda index, tensor: None)
        x = F.leaky_relu(self.stem_bn(self.stem(x)), NEGATIVE_SLOPE)
        observe(0, x)
        for i, block in enumerate(self.blocks):
            x = block(x, observe, 1 + 2 * i)
        return self.head(x)


def _chunked(windows: Tensor, run: Callable[[Tensor], Tensor], training: bool) -> Tensor:
    """``run`` over the windows, in chunks at inference so memory stays bounded; whole in training (batch norm)."""
    if training or len(windows) <= INFERENCE_CHUNK:
        return run(windows)
    return torch.cat([run(chunk) for chunk in windows.split(INFERENCE_CHUNK)])


class BlockCnn(RestorationModel):
    """BlockCNN artifact removal: every 8x8 block restored from its 24x24 window (replicated beyond the image edge),
    all blocks batched.

    Args:
        width: channels of every convolution but the head.
        blocks: residual blocks (the paper: 9).
    """

    channels = "gray"
    training_task = BlockCnnTask
    #: The body only computes a correction, added to the fp32 centre block: bf16's 8-bit mantissa costs a fraction
    #: of a grey level, and training runs 3-4x faster on CPUs with native bf16 (``precision: auto`` in its configs).
    autocast_safe = True

    def __init__(self, width: int = 64, blocks: int = 9) -> None:
        super().__init__()
        self.body = BlockCnnBody(width, blocks)

    def forward(self, image: Tensor, side: JpegSide | None = None) -> Tensor:
        if image.shape[1] != 1:
            raise ValueError(f"{type(self).__name__} restores one channel (luma), got {image.shape[1]}")
        rows, cols = image.shape[-2] // BLOCK, image.shape[-1] // BLOCK
        windows = blocks_with_context(image, context=1, mode="replicate")  # (B * rows * cols, 1, 24, 24)

        def correct(chunk: Tensor) -> Tensor:
            centre = chunk[..., BLOCK : 2 * BLOCK, BLOCK : 2 * BLOCK]
            return centre + self.body(chunk - 0.5)[..., BLOCK : 2 * BLOCK, BLOCK : 2 * BLOCK]

        return fold_blocks(_chunked(windows, correct, self.training), rows, cols)


class BlockCnnPredictor(RestorationModel):
    """The BlockCNN codec's predictor: each block of each plane predicted from its 16x24 causal context, unknown
    and outside blocks at mid-grey (128).

    ``forward(image, side)`` predicts every block of ``image`` from ``image``'s own blocks (the training setting:
    a JPEG-decoded image in, the original as the target); the codec predicts one wavefront at a time through
    :meth:`to_integer`. Every channel is an independent plane (a colour image's Y, Cb and Cr at their coded
    resolutions in the codec). In training mode each requantized activation's range is tracked (as batch norm's
    statistics), which :meth:`to_integer` scales its 10-bit activations by.

    Args:
        width: channels of every convolution but the head.
        blocks: residual blocks (the paper: 9).
    """

    channels = "any"
    training_task = BlockCnnTask
    #: Trained under bf16 where the CPU has it (3-4x faster); the codec never runs this float form but its exact
    #: integer one (:meth:`to_integer`), so the encoder's and decoder's predictions do not depend on it.
    autocast_safe = True

    def __init__(self, width: int = 64, blocks: int = 9) -> None:
        super().__init__()
        self.body = BlockCnnBody(width, blocks)
        self.register_buffer("activation_range", torch.zeros(self.body.activations))

    def _observe(self, index: int, activation: Tensor) -> None:
        if not self.training:
            return
        with torch.no_grad():
            largest = activation.detach().abs().max().float()
            current = self.activation_range[index]
            self.activation_range[index] = torch.where(
                current > 0, (1 - RANGE_MOMENTUM) * current + RANGE_MOMENTUM * largest, largest
            )

    def predict_contexts(self, contexts: Tensor) -> Tensor:
        """(N, 1, 16, 24) contexts of pixel values 0..255 (unknown = 128) -> (N, 1, 8, 8) float predictions in pixel
        values, unrounded: the float model, for training and for measuring the integer form against."""
        out = self.body((contexts - 128) / 128, self._observe)
        return 128 + 128 * out[..., BLOCK:, BLOCK : 2 * BLOCK]

    def forward(self, image: Tensor, side: JpegSide | None = None) -> Tensor:
        batch, planes = image.shape[:2]
        rows, cols = image.shape[-2] // BLOCK, image.shape[-1] // BLOCK
        positions = torch.cartesian_prod(torch.arange(rows), torch.arange(cols)).to(image.device)
        flat = image.reshape(batch * planes, 1, *image.shape[-2:])
        contexts = causal_context(flat * 255, positions, fill=128.0)  # (batch * planes * rows * cols, 1, 16, 24)
        predicted = _chunked(contexts, self.predict_contexts, self.training) / 255
        return fold_blocks(predicted, rows, cols).reshape(image.shape)

    def to_integer(self) -> IntegerBlockPredictor:
        """The exact integer form of this (trained) predictor, batch norm folded in; needs activation ranges."""
        if not (self.activation_range > 0).all():
            raise ValueError("the predictor has no activation ranges yet: train it (or run it in training mode)")
        return IntegerBlockPredictor(self.body, self.activation_range)


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[Tensor, Tensor | None]:
    """The convolution's weight and bias with inference-mode batch norm folded in (float64)."""
    weight = conv.weight.detach().double()
    bias = None if conv.bias is None else conv.bias.detach().double()
    if bn is None:
        return weight, bias
    gain = bn.weight.detach().double() / (bn.running_var.double() + bn.eps).sqrt()
    shift = bn.bias.detach().double() - bn.running_mean.double() * gain
    return weight * gain.view(-1, 1, 1, 1), shift if bias is None else shift + bias * gain


class IntegerBlockPredictor:
    """A :class:`BlockCnnPredictor` in exact integer arithmetic (:mod:`dejpeg.layers.integer`): integer pixel
    contexts in, integer pixel predictions out, the same bits on every CPU and thread count and for any batch."""

    def __init__(self, body: BlockCnnBody, activation_range: Tensor) -> None:
        scales = activation_range.double() / ACTIVATION_LEVELS  # real value of one unit of each activation
        self.convs: list[IntegerConv] = [quantize_conv(*_folded(body.stem, body.stem_bn), 1 / 128, 128)]
        self.multipliers: list[Tensor] = [(self.convs[0].unit / scales[0]).float()]
        self.skip_multipliers: list[Tensor] = []
        for i, block in enumerate(body.blocks):
            x_scale, h_scale, out_scale = scales[2 * i], scales[2 * i + 1], scales[2 * i + 2]
            conv1 = quantize_conv(*_folded(block.conv1, block.bn1), float(x_scale), ACTIVATION_LEVELS)
            conv2 = quantize_conv(*_folded(block.conv2, block.bn2), float(h_scale), ACTIVATION_LEVELS)
            self.convs += [conv1, conv2]
            self.multipliers += [(conv1.unit / h_scale).float(), (conv2.unit / out_scale).float()]
            self.skip_multipliers.append((x_scale / out_scale).float())
        head = quantize_conv(*_folded(body.head, None), float(scales[-1]), ACTIVATION_LEVELS)
        self.convs.append(head)
        self.multipliers.append((head.unit * 128).float())  # to pixel values: 128 + 128 * output

    def __call__(self, contexts: Tensor) -> Tensor:
        """(N, 1, 16, 24) float32 integer pixel values 0..255 (unknown = 128) -> (N, 1, 8, 8) float32 integer
        pixel values 0..255."""
        check_exact_float32(contexts.device)
        if not torch.equal(contexts, contexts.round()) or contexts.min() < 0 or contexts.max() > 255:
            raise ValueError("contexts must hold integer pixel values 0..255")
        convs, multipliers = iter(self.convs), iter(self.multipliers)
        x = requantize(next(convs)(contexts - 128), next(multipliers), NEGATIVE_SLOPE)
        for skip_multiplier in self.skip_multipliers:
            h = requantize(next(convs)(x), next(multipliers), NEGATIVE_SLOPE)
            x = requantize(next(convs)(h), next(multipliers), NEGATIVE_SLOPE, skip=x, skip_multiplier=skip_multiplier)
        out = requantize(next(convs)(x), next(multipliers), None, low=0, high=255, offset=128.0)
        return out[..., BLOCK:, BLOCK : 2 * BLOCK]


USE_RESTORE = "gray or colour (luma restored) JPEGs at the one quality it is trained at"
USE_PREDICT = "not a restorer: the block predictor of the BlockCNN codec (dejpeg codec encode/decode)"
register_model("blockcnn", BlockCnn, {"width": 64, "blocks": 9}, paper=PAPER, use=USE_RESTORE)
register_model("blockcnn_predictor", BlockCnnPredictor, {"width": 64, "blocks": 9}, paper=PAPER, use=USE_PREDICT)

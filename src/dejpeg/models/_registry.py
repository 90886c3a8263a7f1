"""One registry of restoration models (timm-style ``create_model(name, pretrained=True)``).

Names are ``arch`` for an architecture (a family and its variant, e.g. ``dejpeg_net_dct_w192``: registered by the
family's module) and ``arch.tag`` for trained weights of it (registered by :mod:`dejpeg.zoo`, which holds the
files: the registry never imports the zoo). Weights trained at one JPEG quality (``Weights.quality``) are also the
members of their architecture: ``create_model(arch, pretrained=True)`` gives a :class:`~dejpeg.models.PerQualityModel`
that picks, per file, the member nearest its quality. Weights are checked by sha256 and loaded with safetensors,
never unpickled. Retired names keep working with a warning that names their successor.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from dejpeg.files import sha256_file
from dejpeg.models._per_quality import PerQualityModel


@dataclass(frozen=True)
class Weights:
    """A weight file and what a user needs to judge it; how it was made is its model card's prose.

    Attributes:
        path: the safetensors file.
        sha256: its checksum, verified before loading.
        data: what it was trained on, in a line.
        origin: who made it and under which licence.
        scores: measured results (name -> value), e.g. ``bsds500_gray_q10_psnr_gain``, from the benchmark JSON.
        card: the model card (``docs/models.md#anchor``).
        load_filter: turns the stored state into the architecture's (e.g. int8 storage back to float, or the key
            layout of ported weights); None when the file holds the state as is.
        quality: the one JPEG quality it was trained at, making it a per-quality member of its architecture; None
            for weights trained at several.
        interpolate_with: for weights fine-tuned adversarially, the registry name of the regression weights they
            started from: ``create_model(name, alpha=a)`` blends the two (:func:`interpolate_states`); "" for none.
    """

    path: Path
    sha256: str
    data: str
    origin: str
    scores: dict[str, float] = field(default_factory=dict)
    card: str = ""
    load_filter: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None
    quality: int | None = None
    interpolate_with: str = ""


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
    #: False for models with nothing to learn (classical filters and solvers): built as is, they are ready to use.
    needs_weights: bool = True

    @property
    def ready(self) -> bool:
        """Whether ``create_model(name, pretrained=True)`` gives a model ready to restore with."""
        return self.weights is not None or not self.needs_weights


_REGISTRY: dict[str, ModelEntry] = {}
#: Retired name -> successor.
_RETIRED: dict[str, str] = {}


def _check_new(name: str) -> None:
    if name != name.lower() or "-" in name:
        raise ValueError(f"model names are lowercase with underscores: {name!r}")
    if name in _REGISTRY or name in _RETIRED:
        raise ValueError(f"model {name!r} is already registered")


def register_model(
    name: str,
    factory: Callable[..., nn.Module],
    kwargs: dict[str, Any] | None = None,
    paper: str = "",
    use: str = "",
    needs_weights: bool = True,
) -> None:
    """Add the architecture ``name`` (no dot): ``factory(**kwargs)`` builds it; a duplicate name is an error.
    ``needs_weights=False`` marks a model with nothing to train, which ``create_model(name, pretrained=True)``
    builds as is."""
    _check_new(name)
    if "." in name:
        raise ValueError(f"architecture names have no tag: {name!r} (weights are registered with register_weights)")
    _REGISTRY[name] = ModelEntry(
        name, factory, dict(kwargs or {}), None, paper=paper, use=use, needs_weights=needs_weights
    )


def register_weights(name: str, weights: Weights, use: str, default: bool = False) -> None:
    """Add trained weights as ``arch.tag`` for the registered architecture ``arch``."""
    _check_new(name)
    arch, dot, tag = name.partition(".")
    if not dot or not tag or arch not in _REGISTRY:
        raise ValueError(f"weights are named arch.tag after a registered architecture, got {name!r}")
    if default and any(e.default for e in _REGISTRY.values()):
        raise ValueError("only one model may be the default")
    if weights.quality is not None and weights.quality in quality_members(arch):
        raise ValueError(f"{arch} already has weights trained at quality {weights.quality}")
    base = _REGISTRY[arch]
    _REGISTRY[name] = ModelEntry(name, base.factory, base.kwargs, weights, default, base.paper, use)


def quality_members(arch: str) -> dict[int, str]:
    """The weights of ``arch`` trained at one quality each: training quality -> registry name, by quality."""
    members = {
        entry.weights.quality: entry.name
        for entry in _REGISTRY.values()
        if entry.name.partition(".")[0] == arch and entry.weights is not None and entry.weights.quality is not None
    }
    return dict(sorted(members.items()))


def retire(name: str, successor: str) -> None:
    """Keep the old ``name`` working as ``successor``, with a FutureWarning (shown to users, unlike
    DeprecationWarning) each time it is resolved."""
    _check_new(name)
    _RETIRED[name] = successor


def resolve_name(name: str) -> str:
    """``name``, or the successor of a retired name (with a warning)."""
    successor = _RETIRED.get(name)
    if successor is None:
        return name
    warnings.warn(f"model {name!r} is retired: using its successor {successor!r}", FutureWarning, stacklevel=3)
    return successor


def list_models(pretrained: bool | None = None) -> list[str]:
    """Registered names, sorted; ``pretrained=True`` keeps those ready to restore with (weights, or none needed),
    ``False`` the architectures still to train."""
    names = sorted(_REGISTRY)
    if pretrained is None:
        return names
    return [n for n in names if _REGISTRY[n].ready == pretrained]


def retired_models() -> dict[str, str]:
    """Retired name -> successor."""
    return dict(_RETIRED)


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[resolve_name(name)]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def default_model_name() -> str:
    for entry in _REGISTRY.values():
        if entry.default:
            return entry.name
    raise RuntimeError("no default model registered (is dejpeg.zoo imported?)")


def read_weights(weights: Weights, name: str) -> dict[str, Tensor]:
    """The state of a weight file, its checksum verified, through its ``load_filter``."""
    if not weights.path.is_file():
        raise RuntimeError(f"weight file for {name!r} is missing: {weights.path}")
    digest = sha256_file(weights.path)
    if digest != weights.sha256:
        raise RuntimeError(f"checksum mismatch for {weights.path}: {digest} != {weights.sha256}")
    state = load_file(str(weights.path))
    return weights.load_filter(state) if weights.load_filter else state


def load_weights(model: nn.Module, weights: Weights, name: str) -> None:
    """Verify the file's checksum, then load it strictly into ``model``."""
    model.load_state_dict(read_weights(weights, name), strict=True)


def interpolate_states(regression: Mapping[str, Tensor], gan: Mapping[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """Network interpolation (Wang et al., ESRGAN 2018): ``(1 - alpha) * regression + alpha * gan``, per tensor.

    Why: one number trades the texture an adversarially fine-tuned network invents against the PSNR of the
    regression network it started from, without training anything in between.

    Written as that sum, not as ``torch.lerp``, so that ``alpha`` 0 and 1 give each state exactly. Tensors that are
    not floating point (counters) must be equal in both and are kept.

    Raises:
        ValueError: ``alpha`` outside [0, 1], states of different architectures (keys or shapes), or differing
            tensors that cannot be blended.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if set(regression) != set(gan) or any(regression[k].shape != gan[k].shape for k in regression):
        raise ValueError("the regression and GAN weights are of different architectures")
    blended = {}
    for key, start in regression.items():
        if start.is_floating_point():
            blended[key] = (1.0 - alpha) * start + alpha * gan[key].to(start.dtype)
        elif torch.equal(start, gan[key]):
            blended[key] = start
        else:
            raise ValueError(f"{key} is not floating point and differs between the two states: cannot blend it")
    return blended


def create_model(name: str, pretrained: bool = True, alpha: float | None = None, **overrides: Any) -> nn.Module:
    """Build ``name``; with ``pretrained``, load and verify its weights (in eval mode); a model that needs none is
    built as is, and an architecture without weights of its own but with per-quality members is built from those
    (:class:`~dejpeg.models.PerQualityModel`). ``alpha`` (pretrained weights with ``interpolate_with`` only):
    the blend of the regression weights (0) and these (1), :func:`interpolate_states`; None: these as they are.

    Raises:
        ValueError: unknown name, ``pretrained`` asked of a name that needs weights and has none, or ``alpha`` asked
            of weights without regression weights to blend with.
        RuntimeError: a weight file is missing or its checksum does not match.
    """
    entry = get_entry(name)
    if alpha is not None:
        if not pretrained or entry.weights is None or not entry.weights.interpolate_with:
            raise ValueError(f"alpha blends pretrained GAN weights with their regression weights: {name!r} has none")
        base = get_entry(entry.weights.interpolate_with)
        if base.weights is None or base.factory is not entry.factory or base.kwargs != entry.kwargs:
            raise ValueError(f"{name!r} cannot blend with {base.name!r}: not weights of the same architecture")
        model = entry.factory(**{**entry.kwargs, **overrides})
        state = interpolate_states(read_weights(base.weights, base.name), read_weights(entry.weights, name), alpha)
        model.load_state_dict(state, strict=True)
        return model.eval()
    members = quality_members(entry.name) if pretrained and entry.weights is None else {}
    if members:
        built = {quality: (member, create_model(member, True, **overrides)) for quality, member in members.items()}
        return PerQualityModel(built).eval()
    model = entry.factory(**{**entry.kwargs, **overrides})
    if pretrained:
        if not entry.ready:
            raise ValueError(f"model {name!r} has no pretrained weights; use pretrained=False")
        if entry.weights is not None:
            load_weights(model, entry.weights, entry.name)
        model.eval()
    return model


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

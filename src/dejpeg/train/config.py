"""Training configuration: a frozen dataclass read from a YAML or TOML file."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dejpeg.config_files import dataclass_from_dict, read_config
from dejpeg.models import PRECISIONS
from dejpeg.train.data import PatchConfig

#: int8 compute is for inference only (its convolutions have no gradient).
TRAIN_PRECISIONS = tuple(p for p in PRECISIONS if p != "int8")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; saved beside its checkpoints so any run can be reproduced."""

    model: str
    data: PatchConfig
    out_dir: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    # Warm start (fresh runs only): a registry name with weights, a run folder or a .safetensors file
    # of the same architecture; optimizer and schedule start afresh (a continuation with new settings).
    init_from: str = ""
    # True: init_from is this architecture with fewer channels or layers, loaded so the larger model starts from
    # the same function (``RestorationModel.load_smaller_state``): more capacity without starting over.
    init_grow: bool = False
    # Parameter-name prefixes (e.g. "luma.") held fixed: retrain one stage of a trained model, such as a widened
    # chroma stage behind a finished luma stage, without paying for the frozen part's backward pass.
    freeze: tuple[str, ...] = ()
    # Free-form settings of the model's training task (``RestorationModel.training_task``), read by it alone:
    # e.g. a stage switch step or a discriminator's learning rate.
    task_options: dict[str, Any] = field(default_factory=dict)
    steps: int = 10_000
    lr: float = 2e-4
    lr_min: float = 1e-6
    schedule: str = "cosine"  # "cosine" | "step"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.5
    warmup: int = 200
    loss: dict[str, float] = field(default_factory=lambda: {"l1": 1.0})
    grad_clip: float = 0.0
    seed: int = 0
    workers: int = 1
    threads: int = 0  # torch intra-op threads per process; 0 keeps torch's default
    # "bf16": forward under a bf16 autocast (weights, optimizer and loss stay fp32); more patches/s
    # of "fp32" on a CPU with native bf16. "auto" picks bf16 where the model and the machine allow it.
    precision: str = "fp32"
    log_every: int = 50
    checkpoint_every: int = 500
    val_every: int = 2000
    val_folder: str = ""
    val_qualities: tuple[int, ...] = (10, 30)
    val_images: int = 8
    val_gray: bool = True

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "step"):
            raise ValueError(f"schedule must be 'cosine' or 'step', got {self.schedule!r}")
        if self.precision not in TRAIN_PRECISIONS:
            raise ValueError(f"precision must be one of {TRAIN_PRECISIONS}, got {self.precision!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Build a config (:func:`dejpeg.config_files.dataclass_from_dict`); ``raw`` is not modified."""
    if not isinstance(raw.get("data"), dict):
        raise ValueError("config needs a 'data' section")
    return dataclass_from_dict(TrainConfig, raw, "train")


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a ``.yaml``/``.yml`` or ``.toml`` config; ``overrides`` replace top-level keys."""
    return config_from_dict({**read_config(path), **(overrides or {})})

"""The layout of a training run's folder, known here only: the training engine writes it, the restore path,
the weight exporter and the studies read it. Imports nothing of dejpeg."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

#: The run's configuration (model name and arguments among it), written when the run starts.
CONFIG = "config.json"
#: Model, optimizer, scheduler and step, rewritten atomically as training goes.
CHECKPOINT = "last.pt"
#: The model's weights, written once when the run reaches its last step.
FINAL_WEIGHTS = "final.safetensors"
#: One JSON record per log interval and per validation.
LOG = "log.jsonl"


def is_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a training run's folder (it holds a run configuration)."""
    return (Path(path) / CONFIG).is_file()


def run_config(run: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(run) / CONFIG).read_text())


def final_weights_path(run: str | os.PathLike) -> Path:
    return Path(run) / FINAL_WEIGHTS


def load_checkpoint(run: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
    """The run's last checkpoint (tensors and plain values only: loaded with ``weights_only``), or None."""
    path = Path(run) / CHECKPOINT
    return torch.load(path, map_location=map_location, weights_only=True) if path.is_file() else None


def load_run_state(run: str | os.PathLike, finished: bool = False) -> dict[str, torch.Tensor]:
    """The run's final weights, or (unless ``finished``) its last checkpoint's model when it is unfinished."""
    final = final_weights_path(run)
    if final.is_file():
        return load_file(str(final))
    checkpoint = None if finished else load_checkpoint(run)
    if checkpoint is None:
        wanted = FINAL_WEIGHTS if finished else f"{FINAL_WEIGHTS} or {CHECKPOINT}"
        raise FileNotFoundError(f"no {wanted} in {run}" + (" (is the training run finished?)" if finished else ""))
    return checkpoint["model"]


def read_log(run: str | os.PathLike) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run's log: (training records, validation records), in the order written; both empty without a log.
    A line still being written by a running training (no newline yet) is left out."""
    path = Path(run) / LOG
    text = path.read_text() if path.is_file() else ""
    records = [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]
    return [r for r in records if "val" not in r], [r["val"] for r in records if "val" in r]

"""Restoration models: one registry, one family per module (imported explicitly, no scanning)."""

from dejpeg.models import dejpeg_net, unet
from dejpeg.models._base import (
    PRECISIONS,
    SIDE_INFO,
    JpegSide,
    RestorationModel,
    autocast_for,
    native_bf16,
    resolve_precision,
)
from dejpeg.models._registry import (
    Weights,
    count_params,
    create_model,
    default_model_name,
    get_entry,
    list_models,
    register_model,
    register_weights,
    resolve_name,
    retire,
    retired_models,
)
from dejpeg.models._task import TaskSettings, TrainingTask
from dejpeg.models.dejpeg_net import DejpegNet
from dejpeg.models.unet import UNet

__all__ = [
    "dejpeg_net",
    "unet",
    "PRECISIONS",
    "SIDE_INFO",
    "JpegSide",
    "RestorationModel",
    "autocast_for",
    "native_bf16",
    "resolve_precision",
    "TaskSettings",
    "TrainingTask",
    "DejpegNet",
    "UNet",
    "Weights",
    "count_params",
    "create_model",
    "default_model_name",
    "get_entry",
    "list_models",
    "register_model",
    "register_weights",
    "resolve_name",
    "retire",
    "retired_models",
]

"""Restoration models: one registry, one family per module.

Every public module of this package is a family and is imported here, in name order, so that it registers its
architectures: a new family is one new file (``models/<family>.py``), with nothing to edit elsewhere. Only this
package's own files are imported, never a scan of the file system at large.
"""

import importlib
import pkgutil

from dejpeg.models._base import (
    PRECISIONS,
    SIDE_INFO,
    STRENGTH_PRESETS,
    JpegSide,
    RestorationModel,
    SteeredTables,
    autocast_for,
    native_bf16,
    parse_strength,
    resolve_precision,
    steer_tables,
)
from dejpeg.models._cost import count_macs
from dejpeg.models._external import CHECKPOINT_SUFFIXES, load_checkpoint
from dejpeg.models._per_quality import PerQualityModel, nearest_member
from dejpeg.models._registry import (
    Weights,
    count_params,
    create_model,
    default_model_name,
    get_entry,
    interpolate_states,
    list_models,
    quality_members,
    register_model,
    register_weights,
    resolve_name,
    retire,
    retired_models,
)
from dejpeg.models._task import TaskSettings, TrainingTask
from dejpeg.models.dejpeg_net import DejpegNet
from dejpeg.models.unet import UNet

#: The family modules, by name.
FAMILIES = {
    info.name: importlib.import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
    if not info.name.startswith("_")
}

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "FAMILIES",
    "PRECISIONS",
    "SIDE_INFO",
    "STRENGTH_PRESETS",
    "JpegSide",
    "RestorationModel",
    "SteeredTables",
    "autocast_for",
    "load_checkpoint",
    "native_bf16",
    "parse_strength",
    "resolve_precision",
    "steer_tables",
    "TaskSettings",
    "TrainingTask",
    "DejpegNet",
    "PerQualityModel",
    "UNet",
    "Weights",
    "count_macs",
    "count_params",
    "create_model",
    "default_model_name",
    "get_entry",
    "interpolate_states",
    "list_models",
    "nearest_member",
    "quality_members",
    "register_model",
    "register_weights",
    "resolve_name",
    "retire",
    "retired_models",
]

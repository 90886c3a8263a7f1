"""One training engine for every registered model."""

from dejpeg.train.config import TrainConfig, load_config
from dejpeg.train.data import JpegPatchStream, PatchConfig
from dejpeg.train.engine import History, fit

__all__ = ["TrainConfig", "load_config", "JpegPatchStream", "PatchConfig", "History", "fit"]

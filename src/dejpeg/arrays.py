"""uint8 image arrays at the I/O boundary to tensors: one conversion for the restore path, training, metrics and
classifiers."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def u8_to_tensor(images_u8: np.ndarray, dtype: torch.dtype = torch.float32, unit_range: bool = True) -> Tensor:
    """(H, W), (H, W, C) or (N, H, W, C) uint8 to a (1 or N, C, H, W) tensor of ``dtype``, in [0, 1] with
    ``unit_range`` (the models' convention) or in 0..255 (the metrics', which take ``data_range=255``)."""
    if images_u8.ndim not in (2, 3, 4):
        raise ValueError(f"expected (H, W), (H, W, C) or (N, H, W, C) images, got shape {images_u8.shape}")
    array = images_u8[..., None] if images_u8.ndim == 2 else images_u8
    batch = torch.from_numpy(np.ascontiguousarray(array))
    batch = (batch[None] if array.ndim == 3 else batch).permute(0, 3, 1, 2).to(dtype)
    return batch.div_(255.0) if unit_range else batch

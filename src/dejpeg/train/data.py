"""Random JPEG-damaged training patches, generated on the fly in background workers.

Every batch is a pure function of ``(seed, rank, batch_index)``, so a run resumed from a checkpoint
sees exactly the batches it would have seen, whatever the number of workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from dejpeg.arrays import u8_to_tensor
from dejpeg.codec import decode, encode, read_coefficients, read_qtables
from dejpeg.codec.images import load_rgb_u8
from dejpeg.codec.recompress import double_compress
from dejpeg.files import list_images
from dejpeg.jpeg import JpegCoefficients, ijg_qtables, luma_chroma_tables, rgb_to_y_bt601_u8


@dataclass(frozen=True)
class PatchConfig:
    """What the training patches look like.

    quality: a fixed quality, or ``[low, high]`` sampled as ``low + (high - low) * u**quality_power``
        (power > 1 favours low qualities, where the damage and the gains are).
    gray_prob: share of batches that are grayscale JPEGs of the MATLAB-style luma (the evaluation
        convention); the rest are RGB JPEGs with a subsampling drawn from ``subsampling``.
    double_prob: share of patches compressed twice (second quality drawn the same way, grid shifted
        by a random offset when ``double_shift``).
    foreign_tables_prob: share of (single-pass) patches coded with tables unlike libjpeg's, as cameras,
        Photoshop or mozjpeg write them (see :func:`foreign_qtables`), so a table-steered model does not
        learn only the IJG family.
    recursive: also take the images of sub-folders (e.g. an ImageFolder ``train/<class>/`` tree).
    max_images: train on only the first N images of the folder in name order (None: all), to measure how
        the training-set size drives over-fitting (Svoboda et al. 2016, Fig. 8).
    target: ``"clean"`` (supervised: the original patch) or ``"jpeg"`` (Noise2Noise, Lehtinen et al.
        2018: an independently compressed copy of it, so no clean image is ever a target). The copy is
        compressed at ``target_quality`` (None: drawn like ``quality``) and, with ``target_shift``, on
        a JPEG grid shifted by a random 1..7 pixels, so that its artifacts do not repeat the input's.
    """

    folder: str
    patch_size: int = 128
    batch_size: int = 16
    quality: int | tuple[int, int] = (5, 95)
    quality_power: float = 1.0
    gray_prob: float = 0.5
    subsampling: tuple[str, ...] = ("420",)
    double_prob: float = 0.0
    double_shift: bool = True
    foreign_tables_prob: float = 0.0
    augment: bool = True
    recursive: bool = False
    max_images: int | None = None
    target: str = "clean"
    target_quality: int | tuple[int, int] | None = None
    target_shift: bool = True

    def __post_init__(self) -> None:
        if self.max_images is not None and self.max_images < 1:
            raise ValueError(f"max_images must be at least 1, got {self.max_images}")
        if self.target not in ("clean", "jpeg"):
            raise ValueError(f"target must be 'clean' or 'jpeg', got {self.target!r}")
        same = self.target_quality is None or self.target_quality == self.quality
        if self.target == "jpeg" and not self.target_shift and same and isinstance(self.quality, int):
            raise ValueError(
                "a Noise2Noise target at the input's fixed quality and grid equals the input: "
                "set target_quality to another quality, or target_shift: true"
            )


class JpegPatchStream(IterableDataset):
    """Endless stream of batches ``{"input", "target", "qtables"}`` from a folder of images.

    input/target: (B, C, P, P) float in [0, 1], C = 1 for gray batches, 3 for RGB;
    qtables: (B, 2, 8, 8) float, the tables of the (last) compression, luma table repeated for gray.

    With ``coefficients`` (for models whose ``side_info`` names them), batches also hold the quantized DCT
    coefficients of the very JPEG each input was decoded from, as :class:`~dejpeg.models.JpegSide` carries them:
    ``coefficients``, per component a (B, rows, cols, 8, 8) float tensor, and ``sampling``, per component
    (vertical, horizontal) factors. One subsampling is then drawn per batch (not per patch), so the planes stack.
    """

    def __init__(
        self, cfg: PatchConfig, seed: int = 0, rank: int = 0, start_batch: int = 0, coefficients: bool = False
    ) -> None:
        super().__init__()
        if cfg.patch_size % 16:
            raise ValueError(f"patch_size must be a multiple of 16 (the 4:2:0 MCU), got {cfg.patch_size}")
        if coefficients and cfg.double_prob > 0 and cfg.double_shift:
            # The second pass on a shifted grid codes less than the patch, which is then edge-padded: no JPEG
            # holds the padded patch, so no coefficients describe it.
            raise ValueError("coefficients of double-compressed patches need double_shift: false (or double_prob: 0)")
        self.cfg = cfg
        self.seed = seed
        self.rank = rank
        self.start_batch = start_batch
        self.coefficients = coefficients
        self.images = [load_rgb_u8(p) for p in list_images(cfg.folder, cfg.recursive)[: cfg.max_images]]
        small = [im.shape for im in self.images if min(im.shape[:2]) < cfg.patch_size]
        if small:
            raise ValueError(f"{len(small)} images are smaller than patch_size {cfg.patch_size}")

    def _quality(self, rng: np.random.Generator, q: int | tuple[int, int] | None = None) -> int:
        q = self.cfg.quality if q is None else q
        if isinstance(q, int):
            return q
        low, high = q
        return int(round(low + (high - low) * rng.random() ** self.cfg.quality_power))

    def _crop(self, rng: np.random.Generator) -> np.ndarray:
        image = self.images[rng.integers(len(self.images))]
        p = self.cfg.patch_size
        # Offsets on the 16-pixel grid keep the source's own JPEG grid aligned with ours.
        y = 16 * rng.integers((image.shape[0] - p) // 16 + 1)
        x = 16 * rng.integers((image.shape[1] - p) // 16 + 1)
        patch = image[y : y + p, x : x + p]
        if self.cfg.augment:
            patch = np.rot90(patch, k=int(rng.integers(4)))
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
        return np.ascontiguousarray(patch)

    def _subsampling(self, rng: np.random.Generator) -> str:
        return str(rng.choice(self.cfg.subsampling))

    def _sample(
        self, rng: np.random.Generator, gray: bool, subsampling: str | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, JpegCoefficients | None]:
        """One patch: damaged, target, tables and (with ``coefficients``) the damaged patch's coefficients;
        ``subsampling`` None draws one for this patch."""
        clean = self._crop(rng)
        if gray:
            clean = rgb_to_y_bt601_u8(clean)
        subsampling = subsampling or self._subsampling(rng)
        if rng.random() < self.cfg.double_prob:
            p = self.cfg.patch_size
            shift = (int(rng.integers(8)), int(rng.integers(8))) if self.cfg.double_shift else (0, 0)
            first = self._quality(rng)
            damaged, data = double_compress(clean, first, self._quality(rng), shift=shift, subsampling=subsampling)
            # The second pass may drop the shifted rows/columns; train on the common top-left region.
            h, w = damaged.shape[:2]
            clean = clean[shift[0] : shift[0] + h, shift[1] : shift[1] + w]
            if (h, w) != (p, p):
                damaged, clean = _pad_to(damaged, p), _pad_to(clean, p)
        elif rng.random() < self.cfg.foreign_tables_prob:
            data = encode(clean, qtables=foreign_qtables(self._quality(rng), rng), subsampling=subsampling)
            damaged = decode(data)
        else:
            data = encode(clean, quality=self._quality(rng), subsampling=subsampling)
            damaged = decode(data)
        if self.cfg.target == "jpeg":
            clean = self._jpeg_copy(rng, clean, subsampling)
        coefficients = read_coefficients(data) if self.coefficients else None
        return damaged, clean, luma_chroma_tables(read_qtables(data)), coefficients

    def _jpeg_copy(self, rng: np.random.Generator, clean: np.ndarray, subsampling: str) -> np.ndarray:
        """An independently compressed copy of ``clean`` (same shape), the Noise2Noise target.

        The shifted grid comes from reflect-padding the top-left before coding and cropping it away after,
        so every target pixel is a JPEG-coded pixel and the copy covers the whole patch.
        """
        quality = self._quality(rng, self.cfg.target_quality)
        dy, dx = (int(rng.integers(1, 8)), int(rng.integers(1, 8))) if self.cfg.target_shift else (0, 0)
        pad = [(dy, 0), (dx, 0)] + [(0, 0)] * (clean.ndim - 2)
        shifted = np.pad(clean, pad, mode="reflect")
        return decode(encode(shifted, quality=quality, subsampling=subsampling))[dy:, dx:]

    def make_batch(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.rank, index])
        gray = bool(rng.random() < self.cfg.gray_prob)
        subsampling = self._subsampling(rng) if self.coefficients else None
        samples = [self._sample(rng, gray, subsampling) for _ in range(self.cfg.batch_size)]
        damaged, clean, tables, files = zip(*samples)
        damaged, clean, tables = np.stack(damaged), np.stack(clean), np.stack(tables)
        if gray:
            damaged, clean = damaged[..., None], clean[..., None]
        batch = {
            "input": u8_to_tensor(damaged),
            "target": u8_to_tensor(clean),
            "qtables": torch.from_numpy(tables).float(),
        }
        if self.coefficients:
            batch["coefficients"] = tuple(
                torch.from_numpy(np.stack([f.components[c] for f in files]).astype(np.float32))
                for c in range(len(files[0].components))
            )
            batch["sampling"] = files[0].sampling
        return batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        # DataLoader takes batches from workers round-robin, so this yields start, start+1, ... in order.
        index = self.start_batch + worker
        while True:
            yield self.make_batch(index)
            index += workers


def foreign_qtables(quality: int, rng: np.random.Generator) -> np.ndarray:
    """Random (2, 8, 8) tables around IJG ``quality``, the way other encoders differ from libjpeg.

    Each table gets a random tilt over frequency (flatter or steeper than IJG, as camera and
    mozjpeg/PSNR-HVS tables are) and independent per-entry jitter (hand-tuned tables), then is
    rounded and clipped to 1..255.
    """
    u, v = np.mgrid[0:8, 0:8]
    frequency = (u + v) / 14.0 - 0.5  # -0.5 (DC) .. +0.5 (highest)
    tables = []
    for base in ijg_qtables(quality).astype(np.float64):
        tilt = rng.uniform(-1.0, 1.0) * frequency
        jitter = rng.normal(0.0, 0.15, (8, 8))
        tables.append(np.clip(np.round(base * np.exp(tilt + jitter)), 1, 255))
    return np.stack(tables).astype(np.int32)


def _pad_to(image: np.ndarray, size: int) -> np.ndarray:
    pad = [(0, size - image.shape[0]), (0, size - image.shape[1])] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="edge")


def patch_loader(stream: JpegPatchStream, workers: int) -> DataLoader:
    """Background workers prepare whole batches so the training step never waits on JPEG coding."""
    return DataLoader(
        stream,
        batch_size=None,
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )

"""What both classification studies share: configs, compressed copies of a data set, scores, the cell cache.

A study is a grid of cells (one quality, one fine-tuning run, ...). Each finished cell is written to
``out_dir/cells/<name>-<hash>.json`` at once, where the hash covers every setting that affects its
result (data, classifier and its weights, training recipe, level, ...): re-running a study skips the
cells already done, and changing a setting makes new cells instead of reusing stale ones.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from dejpeg.arrays import u8_to_tensor
from dejpeg.codec import compress_to_ratio, decode, encode, read_qtables
from dejpeg.files import atomic_write_bytes, sha256_file
from dejpeg.jpeg import estimate_quality, luma_chroma_tables
from dejpeg.metrics import psnr
from dejpeg.runs import final_weights_path
from dejpeg.studies.data import ImageSet, load_split


@dataclass(frozen=True)
class DataConfig:
    """Where the images are and how much of them to use (the knobs that bound a study's CPU time)."""

    root: str
    train_split: str = "train"
    test_split: str = "test"
    max_train_per_class: int | None = None
    max_test_per_class: int | None = None
    size: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class ClassifierConfig:
    """A classifier spec for :func:`dejpeg.classifiers.load_classifier`, with optional input overrides."""

    spec: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    input_size: int | None = None


@dataclass(frozen=True)
class TrainRecipe:
    """Fine-tuning settings, the same for every cell of a study (the "fixed budget")."""

    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples and numpy scalars as plain JSON values."""
    if dataclasses.is_dataclass(obj):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no inf/NaN: "not applicable" (e.g. the PSNR of an identical copy)
    return obj


def write_json(obj: Any, path: Path) -> None:
    atomic_write_bytes(json.dumps(to_jsonable(obj), indent=1).encode(), path)


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Rows (dicts) as CSV with the union of their keys as columns, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in to_jsonable(row).items()})
    atomic_write_bytes(buf.getvalue().encode(), path)


def file_fingerprint(spec: str) -> str:
    """sha256 of the weight file a spec names (so retrained weights at the same path make new cells)."""
    candidate = Path(spec.rpartition(":")[2])
    if candidate.is_dir():
        candidate = final_weights_path(candidate)
    return sha256_file(candidate) if candidate.is_file() else ""


class CellStore:
    """Finished cells of one study, one JSON file each, written atomically."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.cells = self.out_dir / "cells"
        self.cells.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(name: str, params: dict[str, Any]) -> str:
        digest = hashlib.sha1(json.dumps(to_jsonable(params), sort_keys=True).encode()).hexdigest()[:12]
        return f"{name}-{digest}"

    def path(self, key: str) -> Path:
        return self.cells / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        return json.loads(path.read_text()) if path.is_file() else None

    def put(self, key: str, record: dict[str, Any]) -> dict[str, Any]:
        write_json(record, self.path(key))
        return record


def load_sets(data: DataConfig, train: bool, progress: bool) -> tuple[ImageSet | None, ImageSet]:
    """The (optional) train split and the test split, subsampled as configured."""
    test = load_split(data.root, data.test_split, data.max_test_per_class, data.size, data.seed, progress)
    if not train:
        return None, test
    train_set = load_split(data.root, data.train_split, data.max_train_per_class, data.size, data.seed, progress)
    if train_set.classes != test.classes:
        raise ValueError(f"train and test splits have different classes: {train_set.classes} vs {test.classes}")
    return train_set, test


@dataclass(frozen=True)
class CompressedSet:
    """A data set after JPEG: decoded images (N, H, W, 3) uint8, bytes and IJG quality of each file,
    the tables of each file (N, 2, 8, 8), and whether each hit its target (ratio mode; else all True)."""

    images: np.ndarray
    file_bytes: np.ndarray
    qualities: np.ndarray
    qtables: np.ndarray
    on_target: np.ndarray


def compress_set(
    images_u8: np.ndarray,
    quality: int | None = None,
    ratio: float | None = None,
    subsampling: str = "420",
    progress: bool = False,
    desc: str = "jpeg",
) -> CompressedSet:
    """Compress every image at one IJG ``quality``, or each to a size ``ratio`` of its raw size."""
    if (quality is None) == (ratio is None):
        raise ValueError("give exactly one of quality or ratio")
    decoded, sizes, qualities, tables, hits = [], [], [], [], []
    for image in tqdm(images_u8, desc=desc, disable=not progress, leave=False):
        if ratio is not None:
            result = compress_to_ratio(image, ratio, subsampling=subsampling)
            data, q, hit = result.data, result.quality, result.ok
        else:
            data, q, hit = encode(image, quality=quality, subsampling=subsampling), quality, True
        table = read_qtables(data).astype(np.float32)
        decoded.append(decode(data))
        sizes.append(len(data))
        qualities.append(q)
        tables.append(luma_chroma_tables(table))
        hits.append(hit)
    return CompressedSet(
        images=np.stack(decoded),
        file_bytes=np.asarray(sizes, dtype=np.int64),
        qualities=np.asarray(qualities, dtype=np.int64),
        qtables=np.stack(tables),
        on_target=np.asarray(hits, dtype=bool),
    )


def psnr_u8(images_u8: np.ndarray, reference_u8: np.ndarray, batch: int = 512) -> np.ndarray:
    """(N,) PSNR in dB of each 8-bit image against its reference (by :func:`dejpeg.metrics.psnr`)."""
    if images_u8.shape != reference_u8.shape:
        raise ValueError(f"shape mismatch: {images_u8.shape} vs {reference_u8.shape}")
    out = []
    for start in range(0, len(images_u8), batch):
        a = u8_to_tensor(images_u8[start : start + batch], torch.float64, unit_range=False)
        b = u8_to_tensor(reference_u8[start : start + batch], torch.float64, unit_range=False)
        out.append(psnr(a, b, 255.0))
    return torch.cat(out).numpy()


def mean_finite(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values (identical images have infinite PSNR, stored as None); None if there are none."""
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    finite = array[np.isfinite(array)]
    return float(finite.mean()) if len(finite) else None


def source_note(root: str, split: str, names: Sequence[str], sample: int = 50) -> str:
    """A sentence saying whether the "original" images are themselves JPEG files, and at what quality."""
    folder = Path(root) / split
    jpegs = [folder / n for n in names[:sample] if Path(n).suffix.lower() in (".jpg", ".jpeg")]
    if not jpegs:
        return "The original images are lossless files: 'original' is uncompressed."
    estimates = [estimate_quality(read_qtables(p)) for p in jpegs]
    qualities = sorted({e.quality for e in estimates})
    exact = all(e.exact for e in estimates)
    return (
        f"The 'original' images are themselves JPEG files (IJG quality {', '.join(map(str, qualities))}"
        f"{'' if exact else ', estimated'} on {len(jpegs)} sampled files): every result is relative to this "
        "already-compressed copy, and its file size is what 'original' costs on disk."
    )

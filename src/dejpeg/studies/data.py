"""Image-folder data sets without torchvision: ``root/<split>/<class>/*`` or, label-free, ``root/<split>/*``.

A split is read once into memory as uint8 ``(N, H, W, 3)``: the studies compress, restore and classify
every image several times, and small images (CIFAR: 150 MB for 50,000) fit easily. Classes are the
sorted sub-folder names (for CIFAR-10 that is the usual label order). A folder holding images directly
and no class sub-folders is label-free: its ``labels`` are None and studies report agreement with the
prediction on the original instead of accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from dejpeg.files import image_files


@dataclass(frozen=True)
class ImageSet:
    """One split in memory.

    images: (N, H, W, 3) uint8 RGB. labels: (N,) int64 class indices, or None (label-free).
    classes: class names (index order); ``[]`` when label-free. names: file paths relative to the split.
    file_bytes: (N,) size of each source file on disk (what storing this copy costs).
    """

    images: np.ndarray
    labels: np.ndarray | None
    classes: list[str]
    names: list[str]
    file_bytes: np.ndarray

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def __len__(self) -> int:
        return len(self.images)


def _load(path: Path, size: int | None) -> np.ndarray:
    """RGB uint8; with ``size``, the shorter side is resized to it (antialiased) and the centre cropped square."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None:
            scale = size / min(im.size)
            w, h = max(size, round(im.width * scale)), max(size, round(im.height * scale))
            im = im.resize((w, h), Image.Resampling.BICUBIC)
            left, top = (w - size) // 2, (h - size) // 2
            im = im.crop((left, top, left + size, top + size))
        return np.asarray(im).copy()


def load_split(
    root: str | Path,
    split: str,
    max_per_class: int | None = None,
    size: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> ImageSet:
    """Read ``root/split``.

    Args:
        max_per_class: keep at most this many images per class (label-free: in all), drawn at random
            with ``seed`` and kept in file order, so runs are reproducible and classes balanced.
        size: resize + centre-crop every image to ``size`` x ``size``; needed when sizes differ.

    Raises:
        FileNotFoundError: no such split folder. ValueError: empty, mixed layout, or differing sizes.
    """
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"data split not found: {folder}")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    loose = image_files(folder)
    if class_dirs and loose:
        raise ValueError(f"{folder} holds both images and class folders; use one layout")
    groups = [(d.name, image_files(d)) for d in class_dirs] if class_dirs else [("", loose)]
    rng = np.random.default_rng(seed)
    files: list[Path] = []
    labels: list[int] = []
    for index, (_, members) in enumerate(groups):
        if max_per_class is not None and len(members) > max_per_class:
            keep = np.sort(rng.choice(len(members), size=max_per_class, replace=False))
            members = [members[i] for i in keep]
        files += members
        labels += [index] * len(members)
    if not files:
        raise ValueError(f"no images in {folder}")
    images = [_load(f, size) for f in tqdm(files, desc=f"read {split}", disable=not progress, leave=False)]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"{folder}: images differ in size ({len(shapes)} sizes); set a common 'size' to resize")
    return ImageSet(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64) if class_dirs else None,
        classes=[name for name, _ in groups] if class_dirs else [],
        names=[str(f.relative_to(folder)) for f in files],
        file_bytes=np.asarray([f.stat().st_size for f in files], dtype=np.int64),
    )

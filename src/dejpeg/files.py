"""File-system helpers every layer uses: atomic writes, checksums, image-folder listing. Imports nothing of dejpeg."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def image_files(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (and its subfolders with ``recursive``), sorted so that runs are reproducible."""
    folder = Path(folder)
    members = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in members if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def list_images(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """:func:`image_files` of a folder that must exist and hold images (a data set)."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = image_files(folder, recursive)
    if not files:
        raise ValueError(f"no images {'under' if recursive else 'in'} {folder}")
    return files


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(
    data: bytes, path: str | os.PathLike, before_replace: Callable[[Path], None] | None = None
) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file.

    The temporary file is ``.NAME.XXXXXXXX.tmp`` beside ``path`` (:data:`TEMPORARY_NAME` matches it), so that a
    run killed before the rename leaves something recognisable to clean up. ``before_replace(temporary)`` runs
    once it is complete and before the rename, which keeps its mtime: a batch records the finished output there,
    so that a kill after the rename never leaves an output its manifest does not know.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        if before_replace is not None:
            before_replace(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: The temporary files of :func:`atomic_write_bytes` (``tempfile.mkstemp``'s eight random characters): group 1
#: is the name of the file being written.
TEMPORARY_NAME = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Atomically create ``path`` with a writer that needs a file name (``torch.save``, safetensors' ``save_file``):
    it writes a temporary file beside ``path``, which is then renamed, as in :func:`atomic_write_bytes`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (weight files and datasets are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

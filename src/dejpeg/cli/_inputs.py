"""Shared handling of INPUT... arguments (files and directories, and where each output goes) and of the
options that ``restore`` and ``evaluate`` share."""

from __future__ import annotations

import argparse
from pathlib import Path

from dejpeg.imageio import IMAGE_SUFFIXES
from dejpeg.models import PRECISIONS

JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help='"auto": bf16 where the model and the CPU/GPU compute it natively (1.6x faster than fp32 end to end), '
        "else int8 convolutions where the model allows them and the CPU is x86 (2x with VNNI, 1.1-1.3x with AVX2 "
        'alone), else fp32, each within 0.005 dB; "fp32" gives the same result on every machine',
    )


def expand_inputs(inputs: list[str], suffixes: set[str]) -> tuple[list[Path], bool]:
    """Files named directly plus the matching files of named directories (not recursive).

    Returns the files and whether the output must be a directory (a directory or several inputs).
    """
    files: list[Path] = []
    many = len(inputs) > 1
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            many = True
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    if not files:
        raise ValueError("no input images found")
    return files, many


def output_paths(files: list[Path], out: str, many: bool, suffix: str) -> list[Path]:
    """One output per input: ``out`` itself for a single file, else ``out/<stem><suffix>``.

    Refuses to overwrite any input and to map two inputs onto one output.
    """
    out_path = Path(out)
    if many:
        if out_path.exists() and not out_path.is_dir():
            raise ValueError(f"{out_path} exists and is not a directory (several inputs need a directory)")
        out_path.mkdir(parents=True, exist_ok=True)
        targets = [out_path / f"{f.stem}{suffix}" for f in files]
    else:
        targets = [out_path]
    inputs = {f.resolve() for f in files}
    clash = [t for t in targets if t.resolve() in inputs]
    if clash:
        raise ValueError(f"refusing to overwrite an input: {clash[0]}")
    if len({t.resolve() for t in targets}) != len(targets):
        raise ValueError("two inputs share a file stem and would write the same output")
    return targets


__all__ = ["IMAGE_SUFFIXES", "JPEG_SUFFIXES", "expand_inputs", "output_paths"]

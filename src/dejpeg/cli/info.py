"""``dejpeg info FILE...``: what a JPEG file holds, and the IJG quality its tables correspond to."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from dejpeg.codec import read_coefficients
from dejpeg.codec.jpeg import open_jpeg
from dejpeg.jpeg import estimate_quality
from dejpeg.jpeg.header import check_header
from dejpeg.models import list_models, nearest_member, quality_members

COMPONENT_NAMES = {1: ("Y",), 3: ("Y", "Cb", "Cr")}
#: Component names of the colour spaces libjpeg's coefficient reader refuses, by Pillow mode and Adobe transform.
OTHER_COMPONENT_NAMES = {
    ("CMYK", 2): ("Y", "Cb", "Cr", "K"),
    ("CMYK", 0): ("C", "M", "Y", "K"),
    ("RGB", 0): ("R", "G", "B"),
}


def jpeg_info(path: str | Path) -> dict[str, Any]:
    """JSON-serialisable description of a JPEG file; its errors name the file (one bad file of several)."""
    path = Path(path)
    try:
        return _jpeg_info(path)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


def per_quality_members(luma_table: np.ndarray) -> dict[str, dict[str, Any]]:
    """For each architecture with per-quality weights, the member that ``dejpeg restore --model ARCH`` would use on
    a file with this luma table."""
    picks = {}
    for arch in list_models(pretrained=False):
        members = quality_members(arch)
        if members:
            quality, name = nearest_member(members, luma_table)
            picks[arch] = {"quality": quality, "name": name}
    return picks


def _jpeg_info(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ValueError("a directory; info reads JPEG files")
    data = path.read_bytes()
    check_header(data)  # hostile headers are refused here, not handed to Pillow below
    try:
        coeffs = read_coefficients(data)
    except ValueError:  # CMYK, YCCK or Adobe RGB: restore reads these through Pillow, so info does too
        return _pillow_jpeg_info(path, data)
    estimate = estimate_quality(coeffs.qtables)
    components = []
    for name, comp, sampling, table in zip(
        COMPONENT_NAMES[len(coeffs.components)], coeffs.components, coeffs.sampling, coeffs.qtables
    ):
        components.append(
            {
                "name": name,
                "sampling": list(sampling),
                "blocks": list(comp.shape[:2]),
                "qtable": table.tolist(),
            }
        )
    raw_bytes = coeffs.height * coeffs.width * len(coeffs.components)
    size = len(data)
    return {
        "file": str(path),
        "bytes": size,
        "width": coeffs.width,
        "height": coeffs.height,
        "compression_ratio": size / raw_bytes,
        "components": components,
        "quality": estimate.quality,
        "quality_exact": estimate.exact,
        "per_quality_members": per_quality_members(coeffs.qtables[0]),
    }


def _pillow_jpeg_info(path: Path, data: bytes) -> dict[str, Any]:
    """:func:`jpeg_info` from Pillow's header parse, for colour spaces the coefficient reader refuses."""
    with open_jpeg(data) as pil:
        try:
            pil.load()  # a corrupt file fails here, as it would in restore
        except OSError as error:
            raise ValueError(f"corrupt JPEG data: {error}") from error
        layers, quant, mode = pil.layer, pil.quantization, pil.mode
        transform = pil.info.get("adobe_transform", 1 if len(layers) == 3 else 0)
        width, height = pil.size
    names = OTHER_COMPONENT_NAMES.get((mode, transform), tuple(f"C{i}" for i in range(len(layers))))
    h_max, v_max = max(layer[1] for layer in layers), max(layer[2] for layer in layers)
    tables = {k: np.asarray(quant[k], dtype=np.int32).reshape(8, 8) for k in quant}
    components = [
        {
            "name": name,
            "sampling": [v, h],
            "blocks": [math.ceil(math.ceil(height * v / v_max) / 8), math.ceil(math.ceil(width * h / h_max) / 8)],
            "qtable": tables[slot].tolist(),
        }
        for name, (_, h, v, slot) in zip(names, layers)
    ]
    stacked = np.stack([tables[k] for k in sorted(tables)])
    estimate = estimate_quality(stacked)
    return {
        "file": str(path),
        "bytes": len(data),
        "width": width,
        "height": height,
        "compression_ratio": len(data) / (width * height * len(layers)),
        "components": components,
        "quality": estimate.quality,
        "quality_exact": estimate.exact,
        "per_quality_members": per_quality_members(stacked[0]),
    }


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="size, components, sampling, tables and estimated quality of a JPEG")
    p.add_argument("files", nargs="+", metavar="FILE", help="JPEG files (gray, YCbCr, CMYK or YCCK)")
    p.add_argument("--json", action="store_true", help="machine-readable: an object for one file, else a list")


def run(args: argparse.Namespace) -> int:
    infos = [jpeg_info(file) for file in args.files]  # every file read before anything prints: a bad one is an error
    if args.json:
        print(json.dumps(infos[0] if len(infos) == 1 else infos, indent=2))
        return 0
    for info in infos:
        print_info(info)
    return 0


def print_info(info: dict[str, Any]) -> None:
    kind = "IJG-scaled tables" if info["quality_exact"] else "nearest IJG quality (non-IJG tables)"
    print(
        f"{info['file']}: {info['width']}x{info['height']}, {info['bytes']} bytes, "
        f"ratio {info['compression_ratio']:.3f}"
    )
    print(f"estimated quality: {info['quality']} ({kind})")
    for arch, member in info["per_quality_members"].items():
        print(f"{arch} member: q{member['quality']} ({member['name']})")
    for comp in info["components"]:
        v, h = comp["sampling"]
        print(f"  {comp['name']}: sampling {h}x{v}, {comp['blocks'][0]}x{comp['blocks'][1]} blocks, table:")
        for row in comp["qtable"]:
            print("    " + " ".join(f"{x:3d}" for x in row))

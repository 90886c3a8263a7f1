"""``dejpeg info FILE``: what a JPEG file holds, and the IJG quality its tables correspond to."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dejpeg.jpeg import estimate_quality, read_coefficients

COMPONENT_NAMES = {1: ("Y",), 3: ("Y", "Cb", "Cr")}


def jpeg_info(path: str | Path) -> dict[str, Any]:
    """JSON-serialisable description of a JPEG file."""
    path = Path(path)
    coeffs = read_coefficients(path)
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
    size = path.stat().st_size
    return {
        "file": str(path),
        "bytes": size,
        "width": coeffs.width,
        "height": coeffs.height,
        "compression_ratio": size / raw_bytes,
        "components": components,
        "quality": estimate.quality,
        "quality_exact": estimate.exact,
    }


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="size, components, sampling, tables and estimated quality of a JPEG")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    info = jpeg_info(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    kind = "IJG-scaled tables" if info["quality_exact"] else "nearest IJG quality (non-IJG tables)"
    print(
        f"{info['file']}: {info['width']}x{info['height']}, {info['bytes']} bytes, "
        f"ratio {info['compression_ratio']:.3f}"
    )
    print(f"estimated quality: {info['quality']} ({kind})")
    for comp in info["components"]:
        v, h = comp["sampling"]
        print(f"  {comp['name']}: sampling {h}x{v}, {comp['blocks'][0]}x{comp['blocks'][1]} blocks, table:")
        for row in comp["qtable"]:
            print("    " + " ".join(f"{x:3d}" for x in row))
    return 0

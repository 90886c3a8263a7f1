"""PSNR and sharpness against ``--strength``: what the control trades, measured.

Each image of BSDS500 test200 (colour, RGB 4:2:0, the ``evaluate`` conventions) is compressed at each quality and
restored at each strength, with the DCT consistency step. Sharpness is the mean gradient magnitude of the BT.601
luma (forward differences), divided by the original's: 1 keeps the original's detail, below 1 is smoother, and the
JPEG's blocks add gradients of their own. Prints a table and writes ``benchmarks/results/strength.json``; ``--crop``
also draws one crop of the first image at the first quality: the JPEG, strengths 0, default and 1, the original.

    python benchmarks/strength.py --max-images 10 --crop docs/img/strength_crop.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from dejpeg.api import load_model, restore_array
from dejpeg.codec import decode, encode, read_coefficients, read_qtables
from dejpeg.evaluation import load_reference
from dejpeg.files import atomic_write_bytes, list_images
from dejpeg.jpeg import rgb_to_y_bt601_u8
from dejpeg.metrics import image_metrics
from dejpeg.models import default_model_name

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "val" / "bsds500-test200"
#: None is the model's own best-PSNR setting (no --strength).
STRENGTHS: list[float | None] = [0.0, 0.25, 0.5, None, 0.75, 1.0]
CROP_SIZE, ZOOM, GAP, LABEL_HEIGHT = 128, 2, 6, 28


def gradient_magnitude(image_u8: np.ndarray) -> float:
    """Mean gradient magnitude of the image's BT.601 luma, in grey levels per pixel."""
    luma = (rgb_to_y_bt601_u8(image_u8) if image_u8.ndim == 3 else image_u8).astype(np.float64)
    dy, dx = np.diff(luma, axis=0)[:, :-1], np.diff(luma, axis=1)[:-1]
    return float(np.sqrt(dx**2 + dy**2).mean())


def label(strength: float | None) -> str:
    return "default" if strength is None else f"{strength:g}"


def measure(
    data: Path, model: str | None, qualities: list[int], max_images: int | None, precision: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The table's rows, and the first image's restorations at the first quality (for the crop)."""
    files = list_images(data)[:max_images]
    nets = {label(s): load_model(model, strength=s) for s in STRENGTHS}
    rows, first = [], {}
    for quality in qualities:
        scores: dict[str, list[tuple[float, float]]] = {name: [] for name in ["jpeg", *nets]}
        for index, path in enumerate(tqdm(files, desc=f"Q{quality}", leave=False)):
            original = load_reference(path, gray=False)
            sharpness = gradient_magnitude(original)
            data_bytes = encode(original, quality=quality)
            damaged = decode(data_bytes)
            coefficients, tables = read_coefficients(data_bytes), read_qtables(data_bytes)
            outputs = {"jpeg": damaged}
            for name, net in nets.items():
                outputs[name] = restore_array(damaged, tables, net, coefficients=coefficients, precision=precision)
            for name, image in outputs.items():
                scores[name].append((image_metrics(image, original)["psnr"], gradient_magnitude(image) / sharpness))
            if index == 0 and quality == qualities[0]:
                first = {"original": original, **outputs}
        for name, values in scores.items():
            psnr, sharp = np.mean(values, axis=0)
            rows.append({"quality": quality, "strength": name, "psnr": float(psnr), "sharpness": float(sharp)})
    result = {
        "model": model or default_model_name(),
        "data": str(data),
        "images": len(files),
        "track": "colour, RGB 4:2:0, consistency on",
        "precision": precision,
        "sharpness": "mean gradient magnitude of BT.601 luma, relative to the original",
        "rows": rows,
    }
    return result, first


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"model {result['model']} on {Path(result['data']).name} ({result['images']} images, {result['track']})",
        f"{'Q':>3} | {'strength':>8} | {'PSNR dB':>7} | {'gain':>6} | {'sharpness':>9}",
    ]
    jpeg = {r["quality"]: r["psnr"] for r in result["rows"] if r["strength"] == "jpeg"}
    for r in result["rows"]:
        gain = r["psnr"] - jpeg[r["quality"]]
        cells = f"{r['psnr']:>7.2f} | {gain:>+6.2f} | {r['sharpness']:>9.3f}"
        lines.append(f"{r['quality']:>3} | {r['strength']:>8} | {cells}")
    return "\n".join(lines)


def draw_crop(images: dict[str, np.ndarray], quality: int, path: Path) -> None:
    """The centre of the first image: JPEG, strengths 0, default and 1, original, enlarged without smoothing."""
    panels = [
        (f"JPEG Q{quality}", images["jpeg"]),
        ("strength 0", images["0"]),
        ("default", images["default"]),
        ("strength 1", images["1"]),
        ("original", images["original"]),
    ]
    h, w = images["original"].shape[:2]
    top, left = (h - CROP_SIZE) // 2, (w - CROP_SIZE) // 2
    crops = [Image.fromarray(image[top : top + CROP_SIZE, left : left + CROP_SIZE]) for _, image in panels]
    crops = [crop.resize((CROP_SIZE * ZOOM, CROP_SIZE * ZOOM), Image.NEAREST) for crop in crops]
    size = CROP_SIZE * ZOOM
    figure = Image.new("RGB", (len(crops) * (size + GAP) - GAP, LABEL_HEIGHT + size), "white")
    draw, font = ImageDraw.Draw(figure), ImageFont.load_default(size=18)
    for i, ((caption, _), crop) in enumerate(zip(panels, crops)):
        figure.paste(crop, (i * (size + GAP), LABEL_HEIGHT))
        draw.text((i * (size + GAP) + size // 2, LABEL_HEIGHT // 2), caption, fill="black", font=font, anchor="mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of original images (BSDS500 test200)")
    parser.add_argument("--model", default=None, help="registry name or checkpoint (default: the default model)")
    parser.add_argument("--quality", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--max-images", type=int, default=None, help="the first N images (default: all)")
    parser.add_argument("--precision", default="fp32", help="as dejpeg restore --precision (default fp32)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "strength.json")
    parser.add_argument("--crop", type=Path, default=None, help="also draw the crop figure here (a PNG)")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data at {args.data} (see README, Data)")
    result, first = measure(args.data, args.model, args.quality, args.max_images, args.precision)
    print(format_table(result))
    atomic_write_bytes(json.dumps(result, indent=2).encode(), args.json)
    if args.crop:
        draw_crop(first, args.quality[0], args.crop)


if __name__ == "__main__":
    main()

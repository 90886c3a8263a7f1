"""Does the default model hold up on JPEGs unlike the IJG single-pass files of the published tables?

Grayscale BSDS500 test images coded at one quality four ways: IJG tables; non-IJG tables
(:func:`dejpeg.train.data.foreign_qtables`, like camera or mozjpeg tables); compressed twice on the same
grid; compressed twice with the second grid shifted. Prints the mean PSNR gain of ``dejpeg.restore`` over
the JPEG for each, and writes JSON.

    python benchmarks/robustness.py --quality 20 --max-images 40 --json benchmarks/results/robustness.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dejpeg.api import load_model, restore
from dejpeg.codec import decode, encode
from dejpeg.codec.images import load_rgb_u8
from dejpeg.codec.recompress import double_compress
from dejpeg.files import list_images
from dejpeg.jpeg import rgb_to_y_bt601_u8
from dejpeg.metrics import image_metrics
from dejpeg.models import default_model_name
from dejpeg.train.data import foreign_qtables

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val" / "bsds500-test200"
SHIFT = (3, 5)


def coded(reference: np.ndarray, kind: str, quality: int, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """The JPEG bytes of one variant and the reference region it covers."""
    if kind == "ijg":
        return encode(reference, quality=quality), reference
    if kind == "foreign tables":
        return encode(reference, qtables=foreign_qtables(quality, rng)), reference
    shift = SHIFT if kind == "double, shifted grid" else (0, 0)
    _, data = double_compress(reference, min(100, quality + 10), quality, shift=shift)
    h, w = decode(data).shape[:2]
    return data, reference[shift[0] : shift[0] + h, shift[1] : shift[1] + w]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--quality", type=int, default=20, help="(last) quality; double JPEG first uses +10")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-images", type=int, default=40)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (BSDS500 test200 from ../shared/data)")
    net = load_model(args.model)
    rng = np.random.default_rng(0)
    kinds = ("ijg", "foreign tables", "double, same grid", "double, shifted grid")
    gains: dict[str, list[float]] = {k: [] for k in kinds}
    for path in list_images(args.data)[: args.max_images]:
        reference = rgb_to_y_bt601_u8(load_rgb_u8(path))
        for kind in kinds:
            data, target = coded(reference, kind, args.quality, rng)
            before = image_metrics(decode(data), target)["psnr"]
            gains[kind].append(image_metrics(restore(data, net), target)["psnr"] - before)
    name = args.model or default_model_name()
    print(f"{name}, gray, Q{args.quality}, {len(gains['ijg'])} images: PSNR gain over the JPEG (dB)")
    print("| JPEG | mean gain | worst image |\n|---|---|---|")
    for kind, values in gains.items():
        print(f"| {kind} | {np.mean(values):+.3f} | {np.min(values):+.3f} |")
    if args.json:
        record = {"model": name, "quality": args.quality, "shift": SHIFT, "gains": gains}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Output formats of a restoration: file size, bits per pixel, encoding time and PSNR of what is written, on Kodak24.

Each lossless original is compressed at IJG quality 30 (``dejpeg.codec.encode``, 4:2:0 as cameras write), restored
once with the default model at 16 bits, and each writer (``dejpeg.codec.images.encode_image``, as ``dejpeg restore``
runs it) then encodes the same restored arrays; its time is the encoding alone, to bytes in memory. The 8-bit arrays
are the 16-bit ones rounded (round(v / 257)), which is ``restore``'s 8-bit output but for float32 ties, a few samples
in 10^5 off by one level (tests/test_output_formats.py): one restoration serves both. PSNR is of the written file,
decoded, against the original, on the 0-255 scale (16-bit files at v / 257); the 16-bit files are decoded as the
arrays written, which tests/test_output_formats.py shows they hold exactly.

    OMP_NUM_THREADS=1 python benchmarks/formats.py --json benchmarks/results/formats_kodak24.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image, features

from dejpeg.api import load_model, restore
from dejpeg.codec import encode, load_rgb_u8
from dejpeg.codec.images import Encoding, avif_available, encode_image
from dejpeg.models import default_model_name, resolve_precision

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val" / "kodak24"
JPEG_QUALITY = 30
#: (name, output suffix, encoding) of each writer measured.
WRITERS = [
    ("PNG 8-bit", ".png", Encoding()),
    ("PNG 16-bit", ".png", Encoding(bit_depth=16)),
    ("TIFF 16-bit", ".tif", Encoding(bit_depth=16)),
    ("JPEG q90 4:4:4", ".jpg", Encoding(quality=90)),
    ("JPEG q95 4:4:4", ".jpg", Encoding(quality=95)),
    ("WebP lossy q90", ".webp", Encoding(quality=90)),
    ("WebP lossless", ".webp", Encoding()),
    ("AVIF q90 4:4:4", ".avif", Encoding(quality=90)),
]


def psnr(decoded: np.ndarray, original_u8: np.ndarray) -> float:
    """PSNR in dB on the 0-255 scale of any decoded samples (16-bit ones already divided by 257)."""
    mse = np.mean((decoded.astype(np.float64) - original_u8) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def decode(data: bytes, written: np.ndarray, encoding: Encoding) -> np.ndarray:
    """The samples a reader gets from ``data`` on the 0-255 scale."""
    if encoding.bit_depth == 16:
        return written / 257.0  # Pillow reads no 16-bit RGB; the writers' exactness is tested
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def measure(files: list[Path], model: str | None, precision: str) -> dict:
    net = load_model(model)
    originals = [load_rgb_u8(path) for path in files]
    jpegs = [encode(image, quality=JPEG_QUALITY) for image in originals]
    started = time.perf_counter()
    restored16 = [restore(data, net, precision=precision, bit_depth=16) for data in jpegs]
    restore_seconds = time.perf_counter() - started
    restored8 = [np.round(image / 257).astype(np.uint8) for image in restored16]
    pixels = [image.shape[0] * image.shape[1] for image in originals]

    def row(name: str, sizes: list[int], seconds: list[float] | None, psnrs: list[float]) -> dict:
        return {
            "format": name,
            "mean_kb": float(np.mean(sizes)) / 1000,
            "bits_per_pixel": float(np.mean([8 * size / count for size, count in zip(sizes, pixels)])),
            "encode_seconds_per_image": None if seconds is None else float(np.mean(seconds)),
            "psnr_db": float(np.mean(psnrs)),
        }

    rows = [
        row(
            f"input JPEG q{JPEG_QUALITY} 4:2:0",
            [len(data) for data in jpegs],
            None,
            [psnr(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), o) for data, o in zip(jpegs, originals)],
        )
    ]
    for name, suffix, encoding in WRITERS:
        if suffix == ".avif" and not avif_available():
            print(f"skipped {name}: this Pillow cannot write AVIF")
            continue
        arrays = restored16 if encoding.bit_depth == 16 else restored8
        sizes, seconds, psnrs = [], [], []
        for array, original in zip(arrays, originals):
            began = time.perf_counter()
            data = encode_image(array, suffix, encoding=encoding)
            seconds.append(time.perf_counter() - began)
            sizes.append(len(data))
            psnrs.append(psnr(decode(data, array, encoding), original))
        rows.append(row(name, sizes, seconds, psnrs))
    return {
        "data": f"kodak24 ({len(files)} images)",
        "jpeg_quality": JPEG_QUALITY,
        "model": model or default_model_name(),
        "precision": resolve_precision(net, "cpu", precision),
        "restore_seconds_per_image": restore_seconds / len(files),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "pillow": Image.__version__,
        "libwebp": features.version("webp"),
        "libavif": features.version("avif") if avif_available() else None,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default=None, help="default: the default model")
    parser.add_argument("--precision", default="auto", help="as dejpeg restore --precision")
    parser.add_argument("--max-images", type=int, default=None, metavar="N", help="only the first N images")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (Kodak24 from ../shared/data)")
    files = sorted(args.data.glob("*.png"))[: args.max_images]
    result = measure(files, args.model, args.precision)
    print(
        f"{result['data']}, JPEG q{JPEG_QUALITY} restored by {result['model']} ({result['precision']}, "
        f"{result['restore_seconds_per_image']:.2f} s/image)"
    )
    print(f"{'format':<20} | {'mean kB':>8} | {'bpp':>6} | {'encode s/img':>12} | {'PSNR dB':>7}")
    for r in result["rows"]:
        seconds = "" if r["encode_seconds_per_image"] is None else f"{r['encode_seconds_per_image']:.4f}"
        print(
            f"{r['format']:<20} | {r['mean_kb']:>8.1f} | {r['bits_per_pixel']:>6.3f} | {seconds:>12} | "
            f"{r['psnr_db']:>7.3f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

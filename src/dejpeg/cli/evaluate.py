"""``dejpeg evaluate DIR --model NAME --quality 10 20 30 40 [--gray] [--json FILE] [--plot FILE.png]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dejpeg.cli._inputs import (
    MODEL_HELP,
    add_consistency_option,
    add_device_option,
    add_precision_option,
    add_strength_option,
    int_in_range,
)
from dejpeg.codec.recompress import QUALITY_MAX, QUALITY_MIN
from dejpeg.evaluation import evaluate
from dejpeg.files import atomic_write_bytes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="compress a folder, restore it, and report PSNR/SSIM/PSNR-B gains")
    p.add_argument("data", metavar="DIR", help="folder of original images (lossless: PNG, BMP, TIFF, WebP)")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    add_strength_option(p)
    p.add_argument(
        "--quality",
        type=int_in_range(QUALITY_MIN, QUALITY_MAX),
        nargs="+",
        default=[10, 20, 30, 40],
        help="IJG qualities to compress each image at (default: 10 20 30 40)",
    )
    p.add_argument("--gray", action="store_true", help="grayscale track (BT.601 luma, grayscale JPEG)")
    p.add_argument("--subsampling", default="420", choices=["444", "422", "420"], help="colour track only")
    p.add_argument(
        "--max-images",
        type=int_in_range(1, 10**9),
        default=None,
        help="score only the first N images in sorted order (default: all)",
    )
    add_device_option(p)
    add_precision_option(p)
    p.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    p.add_argument("--plot", default=None, help="also draw PSNR and its gain against quality as a PNG (matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_consistency_option(p)


def format_table(result: dict) -> str:
    header = f"{'Q':>4} | {'JPEG PSNR':>9} {'PSNR':>7} {'gain':>6} | {'JPEG SSIM':>9} {'SSIM':>6} | "
    header += f"{'JPEG PSNR-B':>11} {'PSNR-B':>7} {'gain':>6} | {'MP/s':>5}"
    lines = [
        f"model {result['model']} on {result['data']} ({result['images']} images, "
        f"{'gray' if result['gray'] else 'color'}, consistency {'on' if result['consistency'] else 'off'}, "
        f"strength {'default' if result['strength'] is None else result['strength']}, "
        f"{result['computed_in']})",
        header,
        "-" * len(header),
    ]
    for r in result["rows"]:
        lines.append(
            f"{r['quality']:>4} | {r['jpeg_psnr']:>9.2f} {r['psnr']:>7.2f} {r['psnr_gain']:>+6.2f} | "
            f"{r['jpeg_ssim']:>9.4f} {r['ssim']:>6.4f} | {r['jpeg_psnrb']:>11.2f} {r['psnrb']:>7.2f} "
            f"{r['psnrb_gain']:>+6.2f} | {r['megapixels_per_s']:>5.2f}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    result = evaluate(
        args.data,
        model=args.model,
        qualities=args.quality,
        gray=args.gray,
        subsampling=args.subsampling,
        max_images=args.max_images,
        device=args.device,
        progress=not args.quiet,
        consistency=args.consistency,
        precision=args.precision,
        strength=args.strength,
    )
    print(format_table(result))
    if args.json_path:
        atomic_write_bytes(json.dumps(result, indent=2).encode(), args.json_path)
    if args.plot and not plot_gains(result, Path(args.plot)):
        print("--plot: matplotlib is not installed (pip install 'dejpeg[plots]'); no plot drawn", file=sys.stderr)
    return 0


def plot_gains(result: dict, path: Path) -> bool:
    """PSNR of the JPEG and of the restoration, and the gain, against quality; False without matplotlib."""
    from dejpeg.studies.report import line_plot  # local: the studies package is heavy to import

    qualities = [r["quality"] for r in result["rows"]]
    track = "gray" if result["gray"] else "color"
    return line_plot(
        path,
        {
            "JPEG": (qualities, [r["jpeg_psnr"] for r in result["rows"]]),
            result["model"]: (qualities, [r["psnr"] for r in result["rows"]]),
        },
        "JPEG quality",
        "PSNR (dB)",
        f"{Path(result['data']).name}: {result['images']} images, {track}, PSNR gain labelled",
        labels={result["model"]: [f"{r['psnr_gain']:+.2f}" for r in result["rows"]]},
    )

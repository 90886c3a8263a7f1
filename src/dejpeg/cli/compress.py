"""``dejpeg compress INPUT... -o OUT (--quality Q | --ratio R) [--subsampling S] [--gray]``."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from dejpeg.cli._inputs import IMAGE_SUFFIXES, JPEG_SUFFIXES, create_parents, expand_inputs, int_in_range, output_paths
from dejpeg.codec import compress_to_ratio, encode
from dejpeg.codec.images import load_rgb_u8
from dejpeg.codec.recompress import QUALITY_MAX, QUALITY_MIN
from dejpeg.files import atomic_write_bytes
from dejpeg.jpeg import rgb_to_y_bt601_u8


def ratio_type(text: str) -> float:
    """``--ratio``: compressed over raw bytes, in (0, 1]; a bad value stops the command before any work."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from error
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, 1] (compressed bytes / raw bytes)")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compress", help="JPEG-compress images at a quality or a target compression ratio")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or directories")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output .jpg file (one input) or directory (a folder or several inputs; an existing one, or a path "
        "ending in / to create)",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--quality", type=int_in_range(QUALITY_MIN, QUALITY_MAX), help=f"IJG quality {QUALITY_MIN}..{QUALITY_MAX}"
    )
    target.add_argument("--ratio", type=ratio_type, help="compressed bytes / raw bytes in (0, 1], e.g. 0.1")
    p.add_argument("--subsampling", default="420", choices=["444", "422", "420"])
    p.add_argument("--gray", action="store_true", help="grayscale JPEG of the BT.601 luma")
    p.add_argument("--recursive", action="store_true", help="also compress the images of subfolders, mirroring them")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    inputs = expand_inputs(args.inputs, IMAGE_SUFFIXES, args.recursive)
    targets = output_paths(inputs, args.output, ".jpg", JPEG_SUFFIXES)
    create_parents(targets)
    if note := inputs.skipped_note("image"):
        print(f"dejpeg compress: {note}", file=sys.stderr)
    files = inputs.files
    failures: list[str] = []
    for src, dst in tqdm(list(zip(files, targets)), desc="compress", unit="img", disable=args.quiet):
        try:
            image = load_rgb_u8(src)
            if args.gray:
                image = rgb_to_y_bt601_u8(image)
            if args.quality is not None:
                data = encode(image, quality=args.quality, subsampling=args.subsampling)
            else:
                result = compress_to_ratio(image, args.ratio, subsampling=args.subsampling)
                if not result.ok:
                    raise ValueError(result.reason)
                data = result.data
            atomic_write_bytes(data, dst)
        except Exception as err:  # report and continue with the rest of the batch
            failures.append(f"{src}: {type(err).__name__}: {err}")
    for line in failures:
        print(f"failed: {line}", file=sys.stderr)
    print(f"compressed {len(files) - len(failures)} of {len(files)} image(s) -> {args.output}", file=sys.stderr)
    return 1 if failures else 0

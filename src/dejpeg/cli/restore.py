"""``dejpeg restore INPUT... -o OUT [--model NAME]``."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from dejpeg.api import load_model, restore_file
from dejpeg.cli._inputs import (
    JPEG_SUFFIXES,
    LOSSLESS_SUFFIXES,
    add_device_option,
    add_precision_option,
    create_parents,
    expand_inputs,
    output_paths,
)
from dejpeg.imageio import PNG_COMPRESS_LEVEL
from dejpeg.jpeg.header import MAX_PIXELS
from dejpeg.models import resolve_precision


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="remove JPEG artifacts from files or folders")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JPEG files and/or directories of JPEGs")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (one input; .png, .bmp, .tif, .tiff or .webp) or directory (a folder or several inputs; "
        "an existing one, or a path ending in / to create)",
    )
    p.add_argument("--model", default=None, help="registry name or training run folder (default: the default model)")
    p.add_argument("--format", default="png", choices=["png", "bmp", "tif", "webp"], help="format in a directory")
    p.add_argument("--recursive", action="store_true", help="also restore the JPEGs of subfolders, mirroring them")
    add_device_option(p)
    add_precision_option(p)
    p.add_argument(
        "--png-level",
        type=int,
        default=PNG_COMPRESS_LEVEL,
        choices=range(10),
        metavar="0-9",
        help=f"PNG zlib level (default {PNG_COMPRESS_LEVEL}; 6: ~3%% smaller for 1.7x the time; 9: slowest)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-consistency",
        dest="consistency",
        action="store_false",
        help="skip the DCT consistency step, so the result may leave the quantization intervals of the file's "
        "coefficients (by default it is projected back inside them)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        metavar="N",
        help=f"refuse images of more pixels, before decoding them (default {MAX_PIXELS}, Pillow's; 0: no limit)",
    )
    p.add_argument("--strict", action="store_true", help="refuse files with corrupt data (default: warn, restore)")


def run(args: argparse.Namespace) -> int:
    inputs = expand_inputs(args.inputs, JPEG_SUFFIXES, args.recursive)
    targets = output_paths(inputs, args.output, f".{args.format}", set(LOSSLESS_SUFFIXES))  # before the model loads
    if note := inputs.skipped_note("JPEG"):
        print(f"dejpeg restore: {note}", file=sys.stderr)
    files = inputs.files
    model = load_model(args.model, args.device)
    resolve_precision(model, args.device, args.precision)  # a precision this model or machine lacks: fail once, now
    create_parents(targets)
    failures: list[tuple[str, str]] = []
    for src, dst in tqdm(list(zip(files, targets)), desc="restore", unit="img", disable=args.quiet):
        try:
            restore_file(
                src,
                dst,
                model,
                device=args.device,
                consistency=args.consistency,
                precision=args.precision,
                png_compress_level=args.png_level,
                max_pixels=args.max_pixels or None,
                strict=args.strict,
                progress=not args.quiet,
            )
        except Exception as err:  # a bad file must not stop the batch; it is reported below
            why = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
            failures.append((str(src), why.removeprefix(f"{src}: ")))  # the API's errors name the file too
    for name, why in failures:
        print(f"failed: {name}: {why}", file=sys.stderr)
    done = len(files) - len(failures)
    print(f"restored {done} of {len(files)} image(s) -> {args.output}", file=sys.stderr)
    return 1 if failures else 0

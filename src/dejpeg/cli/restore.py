"""``dejpeg restore INPUT... -o OUT [--model NAME]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dejpeg.api import load_model
from dejpeg.batch import MANIFEST_NAME, Batch, RestoreOptions
from dejpeg.cli._inputs import (
    JPEG_SUFFIXES,
    LOSSLESS_SUFFIXES,
    InputStream,
    add_consistency_option,
    add_device_option,
    add_precision_option,
    check_targets,
    output_layout,
)
from dejpeg.codec.images import PNG_COMPRESS_LEVEL
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
    add_consistency_option(p)
    p.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        metavar="N",
        help=f"refuse images of more pixels, before decoding them (default {MAX_PIXELS}, Pillow's; 0: no limit)",
    )
    p.add_argument("--strict", action="store_true", help="refuse files with corrupt data (default: warn, restore)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace existing outputs (by default one that {MANIFEST_NAME} does not record as restored from the "
        "input as it is now is skipped)",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help=f"restore again the inputs {MANIFEST_NAME} records as failed (by default a re-run skips them)",
    )


def run(args: argparse.Namespace) -> int:
    inputs = InputStream(args.inputs, JPEG_SUFFIXES, args.recursive)
    layout = output_layout(inputs.many, args.output, f".{args.format}", set(LOSSLESS_SUFFIXES))  # before the model
    check_targets(inputs.named_files, [layout.target(Path(f.name)) for f in inputs.named_files])
    model = load_model(args.model, args.device)
    resolve_precision(model, args.device, args.precision)  # a precision this model or machine lacks: fail once, now
    options = RestoreOptions(
        device=args.device,
        consistency=args.consistency,
        precision=args.precision,
        png_compress_level=args.png_level,
        max_pixels=args.max_pixels or None,
        strict=args.strict,
        tile_progress=not args.quiet,
    )
    with tqdm(desc="restore", unit="img", disable=args.quiet) as bar:

        def report(source: Path, row: dict[str, Any]) -> None:
            bar.update()
            if row["status"] == "failed":
                bar.write(f"failed: {source}: {row['error']}", file=sys.stderr)

        batch = Batch(
            model,
            options,
            layout.root if layout.as_directory else None,
            overwrite=args.overwrite,
            retry_failed=args.retry_failed,
            report=report,
        )
        summary = batch.run((source, layout.target(relative)) for source, relative in inputs)
    if note := inputs.skipped_note("JPEG"):
        print(f"dejpeg restore: {note}", file=sys.stderr)
    for line in summary.lines(args.output):
        print(line, file=sys.stderr)
    return summary.exit_code

"""``dejpeg restore INPUT... -o OUT [--model NAME]``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dejpeg.api import load_model
from dejpeg.batch import MANIFEST_NAME, Batch, RestoreOptions
from dejpeg.cli._inputs import (
    JPEG_SUFFIXES,
    LOSSLESS_SUFFIXES,
    MODEL_HELP,
    InputStream,
    OutputLayout,
    add_consistency_option,
    add_device_option,
    add_precision_option,
    add_strength_option,
    check_targets,
    int_in_range,
    output_layout,
)
from dejpeg.codec.images import PNG_COMPRESS_LEVEL
from dejpeg.distributed import RAY_MISSING, RayBatch, ray_available, ray_cluster
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
    p.add_argument("--model", default=None, help=MODEL_HELP)
    add_strength_option(p)
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
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help='restore on a Ray cluster (pip install "dejpeg[ray]"), the same outputs and manifest: "auto" joins the '
        'cluster `ray start` made on this machine (or RAY_ADDRESS), "local" starts one here, else HOST:PORT of the '
        "head node or ray://HOST:PORT; every node must see the inputs and OUT at the same paths",
    )
    p.add_argument(
        "--ray-cpus",
        type=int_in_range(1, 4096),
        default=4,
        metavar="N",
        help="about N CPUs per Ray actor, each holding a copy of the model (default 4): a node's CPUs are split "
        "evenly among as many actors as hold about N (at least one)",
    )
    p.add_argument(
        "--ray-chunk",
        type=int_in_range(1, 100_000),
        default=4,
        metavar="N",
        help="files handed to a Ray actor at a time (default 4; an actor that dies has its chunks redone)",
    )


def run(args: argparse.Namespace) -> int:
    if args.ray is not None and not ray_available():
        raise RuntimeError(RAY_MISSING)
    if args.ray is not None and args.device != "cpu":
        raise ValueError("--ray restores on CPUs: leave --device out")
    inputs = InputStream(args.inputs, JPEG_SUFFIXES, args.recursive)
    layout = output_layout(inputs.many, args.output, f".{args.format}", set(LOSSLESS_SUFFIXES))  # before the model
    check_targets(inputs.named_files, [layout.target(Path(f.name)) for f in inputs.named_files])
    with ray_cluster(args.ray) if args.ray is not None else contextlib.nullcontext():  # a bad address: before the model
        return _restore(args, inputs, layout)


def _restore(args: argparse.Namespace, inputs: InputStream, layout: OutputLayout) -> int:
    model = load_model(args.model, args.device, args.strength)
    resolve_precision(model, args.device, args.precision)  # a precision this model or machine lacks: fail once, now
    options = RestoreOptions(
        device=args.device,
        consistency=args.consistency,
        precision=args.precision,
        png_compress_level=args.png_level,
        max_pixels=args.max_pixels or None,
        strict=args.strict,
        tile_progress=not (args.quiet or args.ray),  # an actor's bars would go to the driver's log
    )
    with tqdm(desc="restore", unit="img", disable=args.quiet) as bar:

        def report(source: Path, row: dict[str, Any]) -> None:
            bar.update()
            if row["status"] == "failed":
                bar.write(f"failed: {source}: {row['error']}", file=sys.stderr)

        root = layout.root if layout.as_directory else None
        if args.ray is None:
            batch = Batch(model, options, root, args.overwrite, args.retry_failed, report=report)
        else:
            batch = RayBatch(
                model, options, root, args.overwrite, args.retry_failed, args.ray_cpus, args.ray_chunk, report
            )
        summary = batch.run((source, layout.target(relative)) for source, relative in inputs)
    if note := inputs.skipped_note("JPEG"):
        print(f"dejpeg restore: {note}", file=sys.stderr)
    for line in summary.lines(args.output) + (batch.lines() if isinstance(batch, RayBatch) else []):
        print(line, file=sys.stderr)
    return summary.exit_code

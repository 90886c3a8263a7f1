"""``dejpeg restore INPUT... -o OUT [--model NAME]``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dejpeg.api import load_model
from dejpeg.batch import MANIFEST_NAME, Batch, RestoreOptions
from dejpeg.cli._inputs import (
    JPEG_SUFFIXES,
    MODEL_HELP,
    OUTPUT_SUFFIXES,
    STEM,
    InputStream,
    OutputLayout,
    add_consistency_option,
    add_device_option,
    add_precision_option,
    add_strength_option,
    check_targets,
    fraction_type,
    int_in_range,
    output_layout,
)
from dejpeg.codec.images import DEFAULT_QUALITY, PNG_COMPRESS_LEVEL, SUBSAMPLINGS, Encoding
from dejpeg.distributed import RAY_MISSING, RayBatch, ray_available, ray_cluster
from dejpeg.jpeg.header import MAX_PIXELS
from dejpeg.models import resolve_precision

#: ``--format`` -> the suffix of the outputs in a directory.
FORMATS = {"png": ".png", "tif": ".tif", "bmp": ".bmp", "webp": ".webp", "jpeg": ".jpg", "avif": ".avif"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="remove JPEG artifacts from files or folders")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JPEG files and/or directories of JPEGs")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (one input; its suffix names the format: .png, .tif, .tiff, .bmp, .webp, .jpg, .jpeg or "
        ".avif) or directory (a folder or several inputs; an existing one, or a path ending in / to create; it may "
        "be the inputs' own folder, with a --suffix)",
    )
    p.add_argument("--model", default=None, help=MODEL_HELP)
    add_strength_option(p)
    p.add_argument(
        "--alpha",
        type=fraction_type,
        default=None,
        metavar="A",
        help="GAN weights only (qgac_small.gan_bsds300): 0 (their regression weights, the best PSNR) .. 1 (the GAN "
        "weights, the sharpest texture), blended per weight; default: the GAN weights as they are",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="format of the outputs in a directory (default png): png, tif, bmp and webp are lossless (webp lossy "
        "with --quality); jpeg and avif are written at --quality. An output file's suffix names its format",
    )
    p.add_argument(
        "--quality",
        type=int_in_range(1, 100),
        metavar="1-100",
        help=f"quality of jpeg and avif output (default {DEFAULT_QUALITY}); makes webp lossy",
    )
    p.add_argument(
        "--subsampling",
        choices=SUBSAMPLINGS,
        help="chroma subsampling of jpeg and avif output (default 444: the restored colours at full resolution; "
        "420: smaller files)",
    )
    p.add_argument(
        "--bit-depth",
        type=int,
        choices=(8, 16),
        default=8,
        help="16: png and tif output of 16-bit samples, keeping what the network computes between grey levels "
        "(8-bit v is written as v * 257; default 8)",
    )
    p.add_argument(
        "--suffix",
        metavar="TEMPLATE",
        help=f"name of each output in a directory, {STEM} being the input's name without its suffix (default {STEM}; "
        f"e.g. {STEM}_restored to write beside the originals with -o set to their folder). An output is never "
        "written over its input",
    )
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
    existing = p.add_mutually_exclusive_group()
    existing.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace every existing output. By default a re-run skips the outputs {MANIFEST_NAME} records as "
        "restored from the input as it is now with the same settings, restores again those whose input or "
        "settings (--format, --quality, --subsampling, --bit-depth) changed since, and keeps any other file",
    )
    existing.add_argument(
        "--skip-existing",
        action="store_true",
        help="keep every existing output, even one whose input or settings changed since it was written: a re-run "
        "continues where the last one stopped, judging by existence alone (also with no manifest)",
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


def restoration_settings(args: argparse.Namespace) -> tuple[tuple[str, Any], ...]:
    """The non-default choices that change what a file restores to, for the manifest (a model given as a path is
    named by its absolute path: the manifest's inputs are too)."""
    settings: list[tuple[str, Any]] = []
    if args.model is not None:
        named_by_path = Path(args.model).exists()
        settings.append(("model", os.path.abspath(args.model) if named_by_path else args.model))
    if args.strength is not None:
        settings.append(("strength", args.strength))
    if args.alpha is not None:
        settings.append(("alpha", args.alpha))
    if not args.consistency:
        settings.append(("consistency", False))
    return tuple(settings)


def run(args: argparse.Namespace) -> int:
    if args.ray is not None and not ray_available():
        raise RuntimeError(RAY_MISSING)
    if args.ray is not None and args.device != "cpu":
        raise ValueError("--ray restores on CPUs: leave --device out")
    inputs = InputStream(args.inputs, JPEG_SUFFIXES, args.recursive)
    suffix = FORMATS[args.format or "png"]
    layout = output_layout(inputs.many, args.output, suffix, set(OUTPUT_SUFFIXES), args.suffix)  # before the model
    if (
        args.format
        and not layout.as_directory
        and OUTPUT_SUFFIXES[layout.root.suffix.lower()] != OUTPUT_SUFFIXES[suffix]
    ):
        raise ValueError(f"--format {args.format} asks for another format than the output file {layout.root} names")
    encoding = Encoding(args.quality, args.subsampling, args.bit_depth, args.png_level)
    encoding.format_for(layout.target(Path("x.jpg")).suffix)  # e.g. 16 bits in a JPEG
    check_targets(inputs.named_files, [layout.target(Path(f.name)) for f in inputs.named_files])
    _check_folders_keep_their_inputs(inputs, layout)
    with ray_cluster(args.ray) if args.ray is not None else contextlib.nullcontext():  # a bad address: before the model
        return _restore(args, inputs, layout, encoding)


def _check_folders_keep_their_inputs(inputs: InputStream, layout: OutputLayout) -> None:
    """Refuse, before any work, to name the restorations of a folder's JPEGs as the JPEGs themselves (JPEG output
    into the inputs' folder without a --suffix). Names are compared ignoring case, as some file systems do; the
    batch also refuses, file by file, any other output that is its own input."""
    root = layout.root.resolve()
    if not (layout.as_directory and any(path.is_dir() and path.resolve() == root for path in inputs.named)):
        return
    for name in (f"photo{suffix}" for suffix in sorted(JPEG_SUFFIXES)):
        if layout.target(Path(name)).name.lower() == name:
            raise ValueError(
                f"{layout.root} holds the inputs, and {layout.template}{layout.suffix} would name each restoration "
                f"as its input: give a --suffix such as {STEM}_restored"
            )


def _restore(args: argparse.Namespace, inputs: InputStream, layout: OutputLayout, encoding: Encoding) -> int:
    model = load_model(args.model, args.device, args.strength, args.alpha)
    resolve_precision(model, args.device, args.precision)  # a precision this model or machine lacks: fail once, now
    options = RestoreOptions(
        device=args.device,
        consistency=args.consistency,
        precision=args.precision,
        encoding=encoding,
        max_pixels=args.max_pixels or None,
        strict=args.strict,
        tile_progress=not (args.quiet or args.ray),  # an actor's bars would go to the driver's log
        restoration=restoration_settings(args),
    )
    with tqdm(desc="restore", unit="img", disable=args.quiet) as bar:

        def report(source: Path, row: dict[str, Any]) -> None:
            bar.update()
            if row["status"] == "failed":
                bar.write(f"failed: {source}: {row['error']}", file=sys.stderr)

        root = layout.root if layout.as_directory else None
        existing = "overwrite" if args.overwrite else "skip" if args.skip_existing else "update"
        if args.ray is None:
            batch = Batch(model, options, root, existing, args.retry_failed, report=report)
        else:
            batch = RayBatch(model, options, root, existing, args.retry_failed, args.ray_cpus, args.ray_chunk, report)
        summary = batch.run((source, layout.target(relative)) for source, relative in inputs)
    if note := inputs.skipped_note("JPEG"):
        print(f"dejpeg restore: {note}", file=sys.stderr)
    for line in summary.lines(args.output) + (batch.lines() if isinstance(batch, RayBatch) else []):
        print(line, file=sys.stderr)
    return summary.exit_code

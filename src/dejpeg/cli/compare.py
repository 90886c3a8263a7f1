"""``dejpeg compare INPUT... -o OUT``: before/after pages to open in a browser, one per JPEG, and an index for
several."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from dejpeg.api import load_model
from dejpeg.cli._inputs import (
    IMAGE_SUFFIXES,
    JPEG_SUFFIXES,
    MODEL_HELP,
    InputStream,
    add_device_option,
    add_precision_option,
    add_strength_option,
    check_targets,
    output_layout,
)
from dejpeg.files import atomic_write_bytes
from dejpeg.models import resolve_precision
from dejpeg.viewer import Comparison, compare, comparison_page, index_page

INDEX = "index.html"
#: The formats an original or a restoration is looked for in, in this order (``photo.png`` before ``photo.jpg``).
MATCH_SUFFIXES = sorted(IMAGE_SUFFIXES - JPEG_SUFFIXES) + sorted(JPEG_SUFFIXES)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="write HTML pages comparing JPEGs with their restorations (a slider, zoom, quality, PSNR)",
        description="Write a self-contained HTML page per JPEG (the images inside it; no network needed to open it): "
        "a before/after slider with zoom and pan, one image pixel per screen pixel at 100 %, the file's estimated "
        "JPEG quality and, given the originals, the PSNR of the JPEG and of its restoration. Several inputs or a "
        f"folder also get OUT/{INDEX}.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="JPEG files and/or directories of JPEGs")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help=f"output page (one input; .html) or directory (a folder or several inputs: one page per JPEG and {INDEX})",
    )
    p.add_argument(
        "--original",
        metavar="PATH|DIR",
        help="the uncompressed original (one input), or a folder holding each JPEG's original under the same name "
        "and relative path with another suffix (photo.jpg -> DIR/photo.png): the pages show the PSNR",
    )
    p.add_argument(
        "--restored",
        metavar="PATH|DIR",
        help="compare with an image already restored (one input), or a folder of them named as for --original "
        "(e.g. the output folder of dejpeg restore), instead of restoring here",
    )
    p.add_argument("--model", default=None, help=MODEL_HELP)
    add_strength_option(p)
    p.add_argument("--recursive", action="store_true", help="also compare the JPEGs of subfolders, mirroring them")
    add_device_option(p)
    add_precision_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def matching_file(given: Path, relative: Path, source: Path, option: str) -> Path:
    """The file ``--original``/``--restored`` gives for the input ``source`` (at ``relative`` below its folder):
    ``given`` itself, or in the folder ``given`` the first file with the input's name and relative path and a suffix
    of :data:`MATCH_SUFFIXES` (never the input itself)."""
    if not given.is_dir():
        return given
    stem = given / relative.parent / relative.stem
    for suffix in MATCH_SUFFIXES:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.is_file() and candidate.resolve() != source.resolve():
            return candidate
    raise FileNotFoundError(f"{option}: no image for {source} in {given} (looked for {stem}.png and the like)")


def run(args: argparse.Namespace) -> int:
    inputs = InputStream(args.inputs, JPEG_SUFFIXES, args.recursive)
    layout = output_layout(inputs.many, args.output, ".html", {".html", ".htm"})
    pairs = list(inputs)
    targets = [layout.target(relative) for _, relative in pairs]
    check_targets([source for source, _ in pairs], targets)
    extra: dict[str, list[Path | None]] = {}
    for option in ("original", "restored"):  # every file found before any work starts
        given = getattr(args, option)
        if given is not None and not Path(given).exists():
            raise FileNotFoundError(f"--{option}: no such file or directory: {given}")
        if given is not None and inputs.many and not Path(given).is_dir():
            raise ValueError(f"with several inputs or a folder, --{option} must be a folder, not the file {given}")
        extra[option] = [
            None if given is None else matching_file(Path(given), rel, src, f"--{option}") for src, rel in pairs
        ]
    if inputs.many and layout.root / INDEX in targets:
        raise ValueError(f"the page of {pairs[targets.index(layout.root / INDEX)][0]} would be the index page {INDEX}")
    if None in extra["restored"]:  # an unknown model, or a precision it lacks: one error now, not one per file
        resolve_precision(load_model(args.model, args.device, args.strength), args.device, args.precision)
    entries: list[tuple[str, Comparison]] = []
    failed = 0
    for (source, relative), target, original, restored in tqdm(
        list(zip(pairs, targets, extra["original"], extra["restored"])), desc="compare", unit="img", disable=args.quiet
    ):
        try:
            comparison = compare(source, restored, original, args.model, args.device, args.precision, args.strength)
        except (OSError, ValueError) as error:  # one bad file does not stop the others; the exit status says so
            failed += 1
            print(f"failed: {source}: {str(error).removeprefix(f'{source}: ')}", file=sys.stderr)
            continue
        back = "../" * len(relative.parent.parts) + INDEX if inputs.many else None
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(comparison_page(comparison, back).encode(), target)
        entries.append((target.relative_to(layout.root).as_posix() if layout.as_directory else target.name, comparison))
    if inputs.many and entries:
        title = ", ".join(str(path) for path in inputs.named)
        atomic_write_bytes(index_page(title, entries).encode(), layout.root / INDEX)
    if note := inputs.skipped_note("JPEG"):
        print(f"dejpeg compare: {note}", file=sys.stderr)
    opened = layout.root / INDEX if inputs.many else targets[0]
    print(f"compared {len(entries)} image(s), {failed} failed: open {opened}")
    return 1 if failed else 0

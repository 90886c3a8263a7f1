"""Shared handling of INPUT... arguments (files and directories, and where each output goes) and of the
options that several commands share."""

from __future__ import annotations

import argparse
import itertools
import os
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from dejpeg.codec.images import OUTPUT_SUFFIXES
from dejpeg.files import IMAGE_SUFFIXES
from dejpeg.models import PRECISIONS, STRENGTH_PRESETS, parse_strength

JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}


def add_precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help='"auto": the fastest this machine computes well: bf16 where the model and the CPU/GPU compute it '
        "natively, else int8 convolutions where the model allows them and the CPU has exact 8-bit dot products "
        '(VNNI, AMX), else fp32, each within 0.005 dB; "int8" also on other x86 CPUs (7-bit weights, within '
        '0.02 dB); "fp32" is the reference (equal to a grey level across machines and thread counts; speed-ups: '
        "benchmarks/results/README.md)",
    )


def strength_type(text: str) -> float:
    """``--strength``: a number 0..1 or a preset name, refused at parse time."""
    try:
        return parse_strength(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def fraction_type(text: str) -> float:
    """A number in 0..1 (e.g. ``--alpha``), refused at parse time."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from error
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text} is outside 0..1")
    return value


def add_strength_option(parser: argparse.ArgumentParser) -> None:
    presets = ", ".join(f"{name} {value}" for name, value in STRENGTH_PRESETS.items())
    parser.add_argument(
        "--strength",
        type=strength_type,
        default=None,
        metavar="S",
        help=f"0 (keep texture and grain) .. 1 (remove every artifact), or a preset ({presets}); default: the "
        "model's best-PSNR setting. The default model and per-quality families are steered by finer or coarser "
        "tables than the file's, FBCNN checkpoints by their quality-factor input; other models refuse it",
    )


MODEL_HELP = (
    "registry name, training run folder, or a published network's checkpoint (.pth, .pt, .safetensors: FBCNN, "
    'SwinIR, SCUNet, DRUNet, DnCNN..., detected by spandrel: pip install "dejpeg[spandrel]"); default: the default '
    "model"
)


def add_consistency_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-consistency",
        dest="consistency",
        action="store_false",
        help="skip the DCT consistency step, so a restoration may leave the quantization intervals of the JPEG's "
        "coefficients (by default it is projected back inside them)",
    )


def device_type(name: str) -> str:
    """``--device``: a torch device this build and machine have, refused at parse time (not in a traceback later)."""
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise argparse.ArgumentTypeError(f"not a torch device: {name!r} (e.g. cpu, cuda, cuda:1)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{name}: CUDA is not available (this torch build or machine has no GPU)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{name}: only {torch.cuda.device_count()} CUDA device(s)")
    return name


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="cpu", type=device_type, help='torch device to run the model on (default "cpu"; "cuda")'
    )


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type=`` for integers in ``low..high``: a bad value stops the command before any work."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from error
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


@dataclass
class SkippedCounts:
    """What the named folders held that a command does not read."""

    #: Files in the named folders with another suffix (not images of the kind the command reads).
    skipped_files: int
    #: Subfolders not descended into (without ``--recursive``).
    skipped_folders: int

    def skipped_note(self, kind: str) -> str | None:
        """One line saying what the folders held that was not read, or None when nothing was left out."""
        parts = []
        if self.skipped_files:
            parts.append(f"{self.skipped_files} non-{kind} file(s)")
        if self.skipped_folders:
            parts.append(f"{self.skipped_folders} subfolder(s) (--recursive reads them)")
        return f"skipped {' and '.join(parts)}" if parts else None


@dataclass
class Inputs(SkippedCounts):
    """The files an INPUT... list names, where each lands below an output directory, and what was left out."""

    files: list[Path]
    #: Each file's path below the output directory: its name for a file named directly, its path below the named
    #: folder for a folder's files (so ``--recursive`` mirrors the input tree).
    relative: list[Path]
    #: A folder or several inputs: the output must be a directory.
    many: bool


class InputStream(SkippedCounts):
    """The files of INPUT... as :func:`expand_inputs` finds them, but walked as they are consumed, so that a folder
    of a million files starts at once: only one folder's matching names are held (sorted, for a reproducible
    order). Yields ``(file, path below the output directory)``; the skipped counts are complete at the end."""

    def __init__(self, inputs: list[str], suffixes: set[str], recursive: bool = False) -> None:
        super().__init__(0, 0)
        self.named = [Path(item) for item in inputs]
        for path in self.named:
            if not (path.is_dir() or path.is_file()):
                raise FileNotFoundError(f"no such file or directory: {path}")
        #: A folder or several inputs: the output must be a directory.
        self.many = len(self.named) > 1 or any(path.is_dir() for path in self.named)
        #: The files named directly (few: they are command-line arguments).
        self.named_files = [path for path in self.named if not path.is_dir()]
        self.suffixes = suffixes
        self.recursive = recursive
        items = self._walk_all()
        first = next(items, None)  # "no input images" is an error before any work, as with expand_inputs
        if first is None:
            raise ValueError("no input images found" + (f" ({note})" if (note := self.skipped_note("image")) else ""))
        self._items = itertools.chain([first], items)

    def __iter__(self) -> Iterator[tuple[Path, Path]]:
        return self._items

    def _walk_all(self) -> Iterator[tuple[Path, Path]]:
        for path in self.named:
            if path.is_dir():
                yield from self._walk(path, Path())
            else:
                yield path, Path(path.name)

    def _walk(self, folder: Path, below: Path) -> Iterator[tuple[Path, Path]]:
        members: list[tuple[str, bool]] = []  # (name, is a folder to descend into)
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    self.skipped_folders += not self.recursive
                    if self.recursive and not entry.is_symlink():  # a linked folder could lead back up: a loop
                        members.append((entry.name, True))
                elif os.path.splitext(entry.name)[1].lower() in self.suffixes:
                    members.append((entry.name, False))
                else:
                    self.skipped_files += 1
        members.sort()
        for name, is_folder in members:
            if is_folder:
                yield from self._walk(folder / name, below / name)
            else:
                yield folder / name, below / name


def expand_inputs(inputs: list[str], suffixes: set[str], recursive: bool = False) -> Inputs:
    """Files named directly plus the files of named directories whose suffix is in ``suffixes`` (and of their
    subdirectories with ``recursive``)."""
    found = Inputs(0, 0, [], [], len(inputs) > 1)
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.many = True
            members = sorted(path.rglob("*") if recursive else path.iterdir())
            for member in members:
                if member.is_dir():
                    found.skipped_folders += not recursive
                elif member.suffix.lower() in suffixes:
                    found.files.append(member)
                    found.relative.append(member.relative_to(path))
                else:
                    found.skipped_files += 1
        elif path.is_file():
            found.files.append(path)
            found.relative.append(Path(path.name))
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    if not found.files:
        raise ValueError("no input images found" + (f" ({note})" if (note := found.skipped_note("image")) else ""))
    return found


#: The name of an output in a directory: its input's name without the suffix.
STEM = "{stem}"


def check_name_template(template: str) -> str:
    """``template`` if it names each output after its input (``{stem}`` and nothing else in braces, no folder),
    else a ValueError: outputs named otherwise would all collide."""
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as error:
        raise ValueError(f"bad name template {template!r}: {error}") from error
    if fields.count("stem") != 1 or len(fields) != 1 or "/" in template or os.sep in template:
        raise ValueError(f"a name template holds {STEM} once, no other field and no folder, e.g. {STEM}_restored; "
                         f"got {template!r}")  # fmt: skip
    return template


@dataclass(frozen=True)
class OutputLayout:
    """Where outputs go: ``root`` itself (one input, an output file) or below the directory ``root``, named by
    ``template`` (see :func:`check_name_template`) with ``suffix``."""

    root: Path
    as_directory: bool
    suffix: str
    template: str = STEM

    def target(self, relative: Path) -> Path:
        """The output of the input at ``relative`` (see :attr:`Inputs.relative`)."""
        if not self.as_directory:
            return self.root
        return self.root / relative.parent / (self.template.format(stem=relative.stem) + self.suffix)


def output_layout(
    many: bool, out: str, suffix: str, file_suffixes: set[str], template: str | None = None
) -> OutputLayout:
    """``out`` is a directory when it exists as one or ends with a slash (then it is created), and must be one for a
    folder or several inputs (``many``); a single output file must end in one of ``file_suffixes``. A name
    ``template`` (default :data:`STEM`) is for outputs in a directory only."""
    out_path = Path(out)
    as_directory = out_path.is_dir() or out.endswith(("/", os.sep))
    if many and not as_directory:
        if out_path.exists():
            raise ValueError(f"{out_path} exists and is not a directory (several inputs need a directory)")
        if out_path.suffix.lower() in IMAGE_SUFFIXES | JPEG_SUFFIXES:
            raise ValueError(f"several inputs need an output directory, not the file name {out}")
        as_directory = True
    if not as_directory and out_path.suffix.lower() not in file_suffixes:
        raise ValueError(
            f"unsupported output format {out_path.suffix!r} for {out}; use one of {sorted(file_suffixes)}, "
            "or end a directory with /"
        )
    if template is not None and not as_directory:
        raise ValueError(f"a name template names the outputs in a directory; {out} is an output file")
    return OutputLayout(out_path, as_directory, suffix, check_name_template(template or STEM))


def check_targets(files: list[Path], targets: list[Path]) -> None:
    """Refuse to overwrite any input and to map two inputs onto one output."""
    resolved_inputs = {f.resolve() for f in files}
    clash = [t for t in targets if t.resolve() in resolved_inputs]
    if clash:
        raise ValueError(f"refusing to overwrite an input: {clash[0]}")
    if len({t.resolve() for t in targets}) != len(targets):
        raise ValueError("two inputs share a file stem and would write the same output")


def output_paths(inputs: Inputs, out: str, suffix: str, file_suffixes: set[str]) -> list[Path]:
    """One output per input: ``out`` itself for a single file, else ``out/<relative path with suffix>``
    (:func:`output_layout`), checked by :func:`check_targets`. Creates nothing (see :func:`create_parents`), so a
    command can check everything else before it touches the disk.
    """
    layout = output_layout(inputs.many, out, suffix, file_suffixes)
    targets = [layout.target(rel) for rel in inputs.relative]
    check_targets(inputs.files, targets)
    return targets


def create_parents(targets: list[Path]) -> None:
    """Create the output directories, once every argument has been checked."""
    for parent in sorted({t.parent for t in targets}):
        parent.mkdir(parents=True, exist_ok=True)


__all__ = [
    "IMAGE_SUFFIXES",
    "JPEG_SUFFIXES",
    "OUTPUT_SUFFIXES",
    "InputStream",
    "Inputs",
    "OutputLayout",
    "add_device_option",
    "check_targets",
    "create_parents",
    "device_type",
    "expand_inputs",
    "fraction_type",
    "int_in_range",
    "output_layout",
    "output_paths",
]

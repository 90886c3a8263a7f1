"""Seeded fuzzing of the JPEG readers: mutated files, and a supervised runner that classifies each file's outcome.

Why: hostile files are an open-ended class; a generator of structured mutations (lengths, tables, frame sizes,
markers, metadata) finds the crashes, hangs and garbage that hand-written cases miss. Shared by
``tests/test_fuzz.py`` (a short run) and ``benchmarks/fuzz_jpeg.py`` (a long one): one generator.

Each file goes through ``dejpeg info``, ``dejpeg restore`` (the CLI's ``main``, in a worker process) and
``dejpeg.restore``. Workers run under an address-space limit with their own TMPDIR; the supervisor gives each file
a time budget and kills a worker that overruns it or dies, blaming the file it was on (the worker says which file
it starts before starting it), then goes on with the next file in a fresh worker.
"""

from __future__ import annotations

import functools
import io
import json
import os
import queue
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from dejpeg.jpeg.header import SOF_MARKERS, STANDALONE_MARKERS

# Outcomes: the two good ones, then the failures.
RESTORED, REFUSED = "restored", "refused"
FAILURES = (
    "crash",
    "hang",
    "memory",
    "traceback",
    "unclear-error",
    "garbage",
    "inconsistent",  # the CLI and the API disagree: one restores what the other refuses
    "leftover-temp",
    "output-left",
)
_SPACES = {2: b"GRAY", 3: b"RGB "}  # ICC colour space of gray and RGB pixels
#: Output formats, in turn: PNG most often, and the others with their own metadata handling.
FORMATS = (".png", ".png", ".bmp", ".tif", ".webp")
#: Restored images this far from Pillow's own decode of the file (PSNR, dB) are garbage, not restorations.
GARBAGE_PSNR = 20.0
#: Time a file may take beyond the per-file budget, per megapixel its header declares: a tiny file may declare a
#: megapixel (under the pixels-per-byte bound), which the CLI and the API each restore in ~40 s on one fp32 thread.
#: A slow large image is not a hang; a file that overruns this is.
SECONDS_PER_MEGAPIXEL = 120.0
#: Address space a worker may add to what it maps once torch and dejpeg are imported (a CUDA build of torch maps
#: gigabytes of libraries it never touches on a CPU); a normal restore of a small file adds well under 1 GiB.
MEMORY_LIMIT = 3 << 30


@dataclass(frozen=True)
class Case:
    """One fuzzed file: its name, the mutation that made it, the seed file it came from, its bytes."""

    name: str
    kind: str
    seed: str
    data: bytes


# --- seed files ---------------------------------------------------------------------------------------------------


def _image(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = [100 + 80 * np.sin(x / 7) + 30 * np.cos(y / 5), 60 + 120 * x / width, 200 - 120 * y / height]
    image = np.stack(planes[:channels], axis=-1) + rng.normal(0, 6, (height, width, channels))
    image[height // 4 : height // 2, width // 3 : 2 * width // 3] += 60
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return image[..., 0] if channels == 1 else image


def _pillow_jpeg(image: Image.Image, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", **options)
    return buf.getvalue()


@functools.cache
def seed_originals() -> dict[str, np.ndarray]:
    """The image each seed file codes (as decoders return it: EXIF orientation not applied, CMYK as RGB)."""
    rgb, gray = _image(40, 56, 3, 0), _image(40, 48, 1, 1)
    return {name: gray if name == "gray" else rgb for name in SEED_NAMES}


SEED_NAMES = ("gray", "color420", "color444", "progressive", "restart", "exif", "icc", "cmyk", "mpo")


def seed_files() -> dict[str, bytes]:
    """Small valid files of every kind the readers meet: gray, 4:2:0 and 4:4:4 colour (dejpeg's encoder), and from
    Pillow progressive, restart markers, EXIF (rotated), an ICC profile, CMYK, and an MPO (two frames)."""
    from dejpeg.codec import encode

    originals = seed_originals()
    rgb, gray = originals["color420"], originals["gray"]
    pil = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    exif[0x010F] = "fuzz"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    mpo = io.BytesIO()
    pil.save(mpo, format="MPO", save_all=True, append_images=[pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    return {
        "gray": encode(gray, quality=30),
        "color420": encode(rgb, quality=40, subsampling="420"),
        "color444": encode(rgb, quality=75, subsampling="444"),
        "progressive": _pillow_jpeg(pil, quality=50, progressive=True),
        "restart": _pillow_jpeg(pil, quality=50, restart_marker_blocks=3),
        "exif": _pillow_jpeg(pil, quality=60, exif=exif.tobytes()),
        "icc": _pillow_jpeg(pil, quality=60, icc_profile=srgb),
        "cmyk": _pillow_jpeg(pil.convert("CMYK"), quality=60),
        "mpo": mpo.getvalue(),
    }


# --- mutations ----------------------------------------------------------------------------------------------------


def segments(data: bytes) -> list[tuple[int, int, int]]:
    """(offset of the 0xFF, marker code, length field) of each segment from SOI to the first SOS; standalone
    markers have length 0. Stops quietly at whatever a mutation broke."""
    found, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in STANDALONE_MARKERS or marker in (0xD8, 0xFF):
            found.append((pos, marker, 0))
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        found.append((pos, marker, length))
        if marker == 0xDA or length < 2:
            break
        pos += 2 + length
    return found


def _pick(data: bytes, rng: np.random.Generator, markers: set[int] | None = None) -> tuple[int, int, int] | None:
    options = [s for s in segments(data) if s[2] and (markers is None or s[1] in markers)]
    return options[rng.integers(len(options))] if options else None


def _scan_start(data: bytes) -> int:
    sos = [s for s in segments(data) if s[1] == 0xDA]
    return sos[0][0] + 2 + sos[0][2] if sos else 2


def _set(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _insert_after_soi(data: bytes, segment: bytes) -> bytes:
    return data[:2] + segment + data[2:]


def byte_flip(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(rng.integers(1, 9)):
        out[rng.integers(2, len(out))] ^= int(rng.integers(1, 256))
    return bytes(out)


def scan_flip(data: bytes, rng: np.random.Generator) -> bytes:
    """Flips in the entropy-coded data only: the header stays valid, so the decoders have to cope."""
    out, start = bytearray(data), _scan_start(data)
    for _ in range(rng.integers(1, 6)):
        out[rng.integers(start, len(out) - 2)] ^= int(rng.integers(1, 256))
    return bytes(out)


def truncate(data: bytes, rng: np.random.Generator) -> bytes:
    cut = data[: rng.integers(2, len(data))]
    return cut + b"\xff\xd9" if rng.random() < 0.5 else cut


def segment_length(data: bytes, rng: np.random.Generator) -> bytes:
    seg = _pick(data, rng)
    if seg is None:
        return byte_flip(data, rng)
    choices = [0, 1, 2, 3, seg[2] - 1, seg[2] + 1, seg[2] + int(rng.integers(2, 64)), 0xFFFF, int(rng.integers(65536))]
    return _set(data, seg[0] + 2, (int(choices[rng.integers(len(choices))]) % 65536).to_bytes(2, "big"))


def dqt_value(data: bytes, rng: np.random.Generator) -> bytes:
    seg = _pick(data, rng, {0xDB})
    if seg is None:
        return byte_flip(data, rng)
    out = bytearray(data)
    values = [0, 1, 255, int(rng.integers(256))]
    for _ in range(rng.integers(1, 6)):
        out[seg[0] + 5 + rng.integers(min(64, seg[2] - 3))] = values[rng.integers(len(values))]
    if rng.random() < 0.2:  # claim 16-bit entries (or another table slot) for the table
        out[seg[0] + 4] = int(rng.choice([0x10, 0x01, 0x03, 0x04, 0xF0]))
    return bytes(out)


def huffman(data: bytes, rng: np.random.Generator) -> bytes:
    """Corrupt a DHT: its counts (too many codes), its class/slot byte, or its symbols."""
    seg = _pick(data, rng, {0xC4})
    if seg is None:
        return byte_flip(data, rng)
    out, base = bytearray(data), seg[0] + 4
    what = rng.integers(3)
    if what == 0:
        out[base + 1 + rng.integers(16)] = int(rng.choice([0, 255, int(rng.integers(256))]))
    elif what == 1:
        out[base] = int(rng.choice([0x02, 0x05, 0x14, 0x20, 0xFF]))
    else:
        for _ in range(rng.integers(1, 5)):
            out[base + 17 + rng.integers(max(1, seg[2] - 19))] = int(rng.integers(256))
    return bytes(out)


def sof_dimensions(data: bytes, rng: np.random.Generator) -> bytes:
    seg = _pick(data, rng, SOF_MARKERS)
    if seg is None:
        return byte_flip(data, rng)
    sizes = [0, 1, 7, 8, 9, 17, 255, 4096, 65535, int(rng.integers(65536))]
    height, width = (int(sizes[rng.integers(len(sizes))]) for _ in range(2))
    return _set(data, seg[0] + 5, height.to_bytes(2, "big") + width.to_bytes(2, "big"))


def sof_components(data: bytes, rng: np.random.Generator) -> bytes:
    """Lie about the frame's components: their count, sampling factors or table slots."""
    seg = _pick(data, rng, SOF_MARKERS)
    if seg is None:
        return byte_flip(data, rng)
    out, count = bytearray(data), data[seg[0] + 9]
    what = rng.integers(3)
    if what == 0:
        out[seg[0] + 9] = int(rng.choice([0, 2, 4, 5, 255]))
    else:
        comp = seg[0] + 10 + 3 * int(rng.integers(max(1, count)))
        if comp + 2 < len(out):
            out[comp + what] = int(rng.choice([0x00, 0x05, 0x44, 0x41, 0x14, 0xFF, 4, 3]))
    return bytes(out)


def sof_type(data: bytes, rng: np.random.Generator) -> bytes:
    """Another coding process (12-bit, lossless, arithmetic, hierarchical) or sample precision."""
    seg = _pick(data, rng, SOF_MARKERS)
    if seg is None:
        return byte_flip(data, rng)
    out = bytearray(data)
    if rng.random() < 0.6:
        out[seg[0] + 1] = int(rng.choice(sorted(SOF_MARKERS)))
    if rng.random() < 0.6:
        out[seg[0] + 4] = int(rng.choice([12, 16, 2, 0]))
    return bytes(out)


def marker_duplicate(data: bytes, rng: np.random.Generator) -> bytes:
    seg = _pick(data, rng)
    if seg is None:
        return byte_flip(data, rng)
    piece = data[seg[0] : seg[0] + 2 + seg[2]]
    at = [s[0] for s in segments(data)][rng.integers(len(segments(data)))] if rng.random() < 0.5 else seg[0]
    return data[:at] + piece + data[at:]


def marker_remove(data: bytes, rng: np.random.Generator) -> bytes:
    if rng.random() < 0.15:  # the EOI
        return data[:-2] if data.endswith(b"\xff\xd9") else data[:-1]
    seg = _pick(data, rng)
    if seg is None:
        return byte_flip(data, rng)
    return data[: seg[0]] + data[seg[0] + 2 + seg[2] :]


def restart_lie(data: bytes, rng: np.random.Generator) -> bytes:
    """A restart interval (DRI) that the scan does not keep, or restart markers where none are due."""
    if rng.random() < 0.5:
        interval = int(rng.choice([0, 1, 2, 7, 65535, int(rng.integers(65536))]))
        dri = [s for s in segments(data) if s[1] == 0xDD]
        if dri:
            return _set(data, dri[0][0] + 4, interval.to_bytes(2, "big"))
        return _insert_after_soi(data, _segment(0xDD, interval.to_bytes(2, "big")))
    start, out = _scan_start(data), bytearray(data)
    for _ in range(rng.integers(1, 4)):
        at = int(rng.integers(start, len(out) - 2))
        out[at : at + 2] = bytes([0xFF, 0xD0 + int(rng.integers(8))])
    return bytes(out)


def adobe_app14(data: bytes, rng: np.random.Generator) -> bytes:
    """An Adobe segment saying CMYK/YCCK/RGB (transform 0, 1 or 2, or nonsense) whatever the frame holds."""
    transform = int(rng.choice([0, 1, 2, 3, 255]))
    payload = b"Adobe" + (100).to_bytes(2, "big") + b"\x00\x00\x00\x00" + bytes([transform])
    if rng.random() < 0.3:
        payload = payload[: rng.integers(5, len(payload))]
    for s in segments(data):
        if s[1] == 0xEE:
            return data[: s[0]] + _segment(0xEE, payload) + data[s[0] + 2 + s[2] :]
    return _insert_after_soi(data, _segment(0xEE, payload))


def exif_bad(data: bytes, rng: np.random.Generator) -> bytes:
    """EXIF whose IFD offsets, entry counts or orientation point outside it or hold nonsense."""
    order = b"MM" if rng.random() < 0.5 else b"II"
    big = order == b"MM"

    def num(value: int, size: int) -> bytes:
        return value.to_bytes(size, "big" if big else "little")

    ifd_offset = int(rng.choice([8, 0, 7, 0xFFFFFFFF, int(rng.integers(1 << 32))]))
    count = int(rng.choice([1, 2, 0xFFFF, int(rng.integers(1, 50))]))
    entry_type = int(rng.choice([3, 3, 0, 7, 12, 255]))
    value_count = int(rng.choice([1, 1, 0xFFFFFFFF, int(rng.integers(1 << 32))]))
    orientation = int(rng.choice([1, 6, 8, 0, 9, 0xFFFF]))
    entry = num(0x0112, 2) + num(entry_type, 2) + num(value_count, 4) + num(orientation, 2) + b"\0\0"
    exif_ifd = num(0x8769, 2) + num(4, 2) + num(1, 4) + num(int(rng.integers(1 << 32)), 4)
    tiff = order + num(42, 2) + num(ifd_offset, 4) + num(count, 2) + entry + exif_ifd + num(0, 4)
    cut = len(tiff) if rng.random() < 0.7 else int(rng.integers(2, len(tiff)))
    return _insert_after_soi(data, _segment(0xE1, b"Exif\0\0" + tiff[:cut]))


def icc_bad(data: bytes, rng: np.random.Generator) -> bytes:
    """An ICC profile whose declared size, chunk numbers, colour space or contents lie."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    what = rng.integers(4)
    if what == 0:
        profile[0:4] = int(rng.choice([0, 1, 0xFFFFFFFF, len(profile) * 2])).to_bytes(4, "big")
    elif what == 1:
        profile[16:20] = rng.choice([b"CMYK", b"GRAY", b"Lab ", b"\0\0\0\0"]).tobytes()
    elif what == 2:
        profile = profile[: rng.integers(0, len(profile))]
    else:
        for _ in range(8):
            profile[rng.integers(len(profile))] = int(rng.integers(256))
    number, total = (int(rng.choice([1, 1, 0, 2, 255])) for _ in range(2))
    return _insert_after_soi(data, _segment(0xE2, b"ICC_PROFILE\0" + bytes([number, total]) + bytes(profile)))


def concatenate(data: bytes, rng: np.random.Generator) -> bytes:
    """Another file, or garbage, after the image: what MPO and some cameras write, and what attacks append."""
    return data + (
        data if rng.random() < 0.5 else rng.integers(0, 256, int(rng.integers(1, 4096))).astype(np.uint8).tobytes()
    )


MUTATIONS: dict[str, Callable[[bytes, np.random.Generator], bytes]] = {
    "byte_flip": byte_flip,
    "scan_flip": scan_flip,
    "truncate": truncate,
    "segment_length": segment_length,
    "dqt_value": dqt_value,
    "huffman": huffman,
    "sof_dimensions": sof_dimensions,
    "sof_components": sof_components,
    "sof_type": sof_type,
    "marker_duplicate": marker_duplicate,
    "marker_remove": marker_remove,
    "restart_lie": restart_lie,
    "adobe_app14": adobe_app14,
    "exif_bad": exif_bad,
    "icc_bad": icc_bad,
    "concatenate": concatenate,
}


def generate(count: int, seed: int = 0) -> list[Case]:
    """``count`` files: every seed file once unmutated, then mutations drawn in turn, on seeds drawn at random.
    The same ``(count, seed)`` gives the same files."""
    rng = np.random.default_rng(seed)
    seeds = seed_files()
    cases = [Case(f"{i:05d}-valid-{name}.jpg", "valid", name, data) for i, (name, data) in enumerate(seeds.items())]
    kinds, names = list(MUTATIONS), list(seeds)
    for i in range(len(cases), count):
        kind, base = kinds[i % len(kinds)], names[rng.integers(len(names))]
        case_rng = np.random.default_rng([seed, i])
        cases.append(Case(f"{i:05d}-{kind}-{base}.jpg", kind, base, MUTATIONS[kind](seeds[base], case_rng)))
    return cases[:count]


# --- the worker (started by the supervisor: ``fuzzing.worker(folder, names)``) -----------------------------------


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _reference(path: Path) -> np.ndarray | None:
    """Pillow's own decode (gray stays gray), or None where Pillow cannot decode the file or it declares more pixels
    than dejpeg restores (which dejpeg must refuse: decoding them here would only inflate the worker's memory)."""
    from dejpeg.jpeg.header import MAX_PIXELS

    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                return None
            im.load()
            return np.asarray(im if im.mode == "L" else im.convert("RGB")).copy()
    except Exception:  # noqa: BLE001 - any failure means: no reference to compare with
        return None


def _original(path: Path) -> np.ndarray | None:
    """The image the file's seed coded (names end in ``-<seed>.jpg``), or None for a file of unknown seed."""
    seed = path.stem.rsplit("-", 1)[-1]
    return seed_originals().get(seed)


def _judge_image(restored: np.ndarray, reference: np.ndarray | None, original: np.ndarray | None) -> str | None:
    """Why a restored image is garbage, or None.

    Far from Pillow's decode is garbage unless it is at least as close to the image the file's seed coded as that
    decode is: a file whose tables were mutated decodes to an image far from what was coded, and a restoration that
    undoes part of that is right, not garbage.
    """
    if reference is None:
        return "restored a file Pillow cannot decode"
    if restored.shape != reference.shape:
        return f"shape {restored.shape}, Pillow decodes {reference.shape}"
    if restored.max() == 0 and reference.max() > 32:
        return "all black"
    psnr = _psnr(restored, reference)
    if psnr >= GARBAGE_PSNR:
        return None
    if original is not None and original.shape == restored.shape:
        closer, decode = _psnr(restored, original), _psnr(reference, original)
        if closer >= decode:
            return None
        return f"PSNR {psnr:.1f} dB against Pillow's decode, {closer:.1f} against the coded image (decode {decode:.1f})"
    return f"PSNR {psnr:.1f} dB against Pillow's decode"


def _judge_output(out: Path, source: Path, reference: np.ndarray | None, original: np.ndarray | None) -> str | None:
    """Why a restored file is garbage: its pixels, or an ICC profile that readers reject (libpng: a declared length
    that is not its length, another colour space than the pixels').

    BMP keeps no EXIF, so it is written upright; Pillow reads a TIFF upright too: either may match the decode turned
    as its EXIF says. WebP has no gray: a gray restoration comes back as three equal channels.
    """
    from PIL import ImageOps

    with Image.open(out) as im:
        pixels, icc = np.asarray(im).copy(), im.info.get("icc_profile")
    if icc and (len(icc) < 128 or int.from_bytes(icc[:4], "big") != len(icc) or icc[16:20] != _SPACES[pixels.ndim]):
        return f"an ICC profile readers reject ({len(icc)} bytes, declares {icc[:4].hex()}, space {icc[16:20]!r})"
    if out.suffix == ".webp" and reference is not None and reference.ndim == 2 and pixels.ndim == 3:
        if not (pixels == pixels[..., :1]).all():
            return "a gray file restored in colour"
        pixels = pixels[..., 0]
    why = _judge_image(pixels, reference, original)
    if why is None or reference is None:
        return why
    try:  # written upright (a square image keeps its shape when turned, so try this whenever the first fails)
        with Image.open(source) as im:
            upright = ImageOps.exif_transpose(im)
            reference = np.asarray(upright if upright.mode == "L" else upright.convert("RGB")).copy()
    except Exception:  # noqa: BLE001 - unreadable EXIF: no orientation
        return why
    return why if _judge_image(pixels, reference, None) else None


def _judge_refusal(message: str, path: Path) -> str | None:
    """Why an error message is not a clear one-line refusal naming the file, or None."""
    if "Traceback" in message:
        return "traceback"
    if " object at 0x" in message or "\n" in message.strip():
        return "unclear-error"
    return None if str(path) in message else "unclear-error"


def _run_file(path: Path, out: Path, tmpdir: Path) -> dict[str, object]:
    import contextlib
    import traceback
    import warnings

    import dejpeg
    from dejpeg.cli.__main__ import main

    steps: dict[str, str] = {}
    reference, original = _reference(path), _original(path)
    for step, argv in (
        ("info", ["info", str(path)]),
        ("cli", ["restore", str(path), "-o", str(out), "--quiet", "--precision", "fp32"]),
    ):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
        except MemoryError:
            steps[step] = "memory"
            continue
        except BaseException:  # noqa: BLE001 - anything escaping main() is a traceback for the user
            steps[step] = "traceback: " + traceback.format_exc(limit=-3).replace("\n", " | ")
            continue
        text = err.getvalue()
        lines = [line for line in text.splitlines() if line.startswith(("failed: ", "dejpeg info: error: "))]
        if code == 0:
            steps[step] = RESTORED
            if step == "cli":
                try:
                    why = _judge_output(out, path, reference, original)
                except Exception as error:  # noqa: BLE001
                    why = f"output unreadable: {error}"
                steps[step] = RESTORED if why is None else f"garbage: {why}"
        elif "Traceback" in text:
            steps[step] = "traceback: " + text.replace("\n", " | ")[-400:]
        elif len(lines) != 1 or (why := _judge_refusal(lines[0], path)):
            steps[step] = f"unclear-error: {text.strip()!r}"
        elif step == "cli" and (out.exists() or list(out.parent.glob(f".{out.name}.*"))):
            steps[step] = f"output-left: {lines[0]}"
        else:
            steps[step] = f"{REFUSED}: {lines[0]}"
        out.unlink(missing_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            why = _judge_image(dejpeg.restore(path, precision="fp32"), reference, original)
        steps["api"] = RESTORED if why is None else f"garbage: {why}"
    except MemoryError:
        steps["api"] = "memory"
    except ValueError as error:
        problem = _judge_refusal(str(error), path)
        steps["api"] = f"{problem}: {error}" if problem else f"{REFUSED}: {error}"
    except BaseException:  # noqa: BLE001
        steps["api"] = "traceback: " + traceback.format_exc(limit=-3).replace("\n", " | ")
    left = sorted(os.listdir(tmpdir))
    if left:
        steps["temp"] = f"leftover-temp: {left[:5]}"
        for name in left:
            shutil.rmtree(tmpdir / name, ignore_errors=True) if (tmpdir / name).is_dir() else (tmpdir / name).unlink()
    return {"file": path.name, "steps": steps}


def worker(folder: Path, names: list[str]) -> None:
    """Run each file, printing ``start NAME`` before and its JSON result after (one line each, flushed)."""
    import torch

    import dejpeg.cli.__main__  # noqa: F401 - imported before the limit, which is on what the files add

    torch.set_num_threads(1)
    limit = _address_space() + int(os.environ["DEJPEG_FUZZ_MEMORY"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    tmpdir, out = Path(os.environ["TMPDIR"]), folder / "out" / "restored.png"
    out.parent.mkdir(exist_ok=True)
    for name in names:
        print(f"start {name}", flush=True)
        suffix = FORMATS[sum(name.encode()) % len(FORMATS)]
        result = _run_file(folder / name, out.with_suffix(suffix), tmpdir)
        # the worker's peak resident memory so far (Linux: KiB): the maximum over a run bounds every file's peak
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result), flush=True)


# --- the supervisor -----------------------------------------------------------------------------------------------


def outcome(steps: dict[str, str]) -> str:
    """A file's outcome: its worst step's (a failure if any step failed, else refused if any refused)."""
    kinds = [step.split(":", 1)[0] for step in steps.values()]
    cli, api = steps.get("cli", ""), steps.get("api", "")
    too_big = "WebP holds at most" in cli  # the API returns an array, which no format limits
    if {cli.split(":", 1)[0], api.split(":", 1)[0]} == {RESTORED, REFUSED} and not too_big:
        kinds.append("inconsistent")
    for failure in FAILURES:
        if failure in kinds:
            return failure
    return REFUSED if REFUSED in kinds else RESTORED


def _address_space() -> int:
    """This process's mapped address space in bytes (``VmSize``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) << 10
    raise RuntimeError("no VmSize in /proc/self/status")


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _megapixels(path: Path) -> float:
    """The megapixels a file declares, 0 where its header is unreadable (it is refused before any work)."""
    from dejpeg.jpeg.header import parse_header

    try:
        header = parse_header(path.read_bytes())
    except ValueError:
        return 0.0
    return header.width * header.height / 1e6


def _pump(stream: io.TextIOBase, lines: queue.Queue[str | None]) -> None:
    """Lines of a worker's output into a queue, then None: the supervisor waits on it with a deadline."""
    for line in stream:
        lines.put(line)
    lines.put(None)


#: The worker process: ``python -c WORKER FOLDER NAME...``.
WORKER = "import sys, pathlib, fuzzing; fuzzing.worker(pathlib.Path(sys.argv[1]), sys.argv[2:])"


def _run_chunk(
    folder: Path,
    names: list[str],
    per_file: float,
    startup: float,
    memory: int,
    results: dict[str, dict],
    worker_code: str = WORKER,
) -> None:
    """Run ``names`` in workers, restarting after a file that hangs or kills its worker."""
    pending = list(names)
    while pending:
        tmpdir = folder / f"tmp-{pending[0]}"
        tmpdir.mkdir()
        env = {**os.environ, "TMPDIR": str(tmpdir), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": ""}
        env["DEJPEG_FUZZ_MEMORY"] = str(memory)
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
        # The worker's stderr goes to a file: a pipe read only at the end fills up (64 KiB of libjpeg's messages over
        # a few thousand files) and blocks the worker, which then looks like a hang.
        error_log = open(folder / f"stderr-{pending[0]}.txt", "w+")  # noqa: SIM115 - closed below, after the wait
        proc = subprocess.Popen(
            [sys.executable, "-c", worker_code, str(folder), *pending],
            stdout=subprocess.PIPE,
            stderr=error_log,
            text=True,
            env=env,
            preexec_fn=_no_core_dumps,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        current, deadline, timed_out = None, time.monotonic() + startup + per_file, False
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                timed_out = True
                proc.kill()
                break
            if line is None:
                break
            if line.startswith("start "):
                current = line[6:].strip()
                deadline = time.monotonic() + per_file + SECONDS_PER_MEGAPIXEL * _megapixels(folder / current)
            elif line.startswith("{"):
                result = json.loads(line)
                results[result["file"]] = result
                pending.remove(result["file"])
                current = None
        proc.wait()
        proc.stdout.close()
        error_log.seek(0)
        stderr = error_log.read()
        error_log.close()
        Path(error_log.name).unlink()
        victim = current or (pending[0] if pending else None)
        if victim is not None and victim in pending:
            if timed_out:
                steps = {"worker": f"hang: over {per_file:.0f} s"}
            elif "MemoryError" in stderr or "std::bad_alloc" in stderr or "Cannot allocate memory" in stderr:
                steps = {"worker": f"memory: {stderr.strip().splitlines()[-1][:200] if stderr.strip() else ''}"}
            else:
                steps = {"worker": f"crash: exit {proc.returncode}: {stderr.strip()[-300:]!r}"}
            results[victim] = {"file": victim, "steps": steps}
            pending.remove(victim)
        shutil.rmtree(tmpdir, ignore_errors=True)


def run_cases(
    cases: list[Case],
    folder: Path,
    jobs: int = 2,
    per_file: float = 30.0,
    startup: float = 60.0,
    memory: int = MEMORY_LIMIT,
    worker_code: str = WORKER,
) -> list[dict[str, object]]:
    """Write the cases into ``folder`` and run them in ``jobs`` parallel workers; one result per case, in order,
    with ``kind``, ``seed``, ``steps`` (per step: outcome and message) and ``outcome``. ``worker_code`` replaces
    the worker (the supervisor's own tests use a worker that misbehaves on purpose)."""
    from concurrent.futures import ThreadPoolExecutor

    names = [case.name for case in cases]
    for j in range(jobs):
        (folder / f"w{j}").mkdir(parents=True, exist_ok=True)
        for case in cases[j::jobs]:
            (folder / f"w{j}" / case.name).write_bytes(case.data)
    results: dict[str, dict] = {}
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda j: _run_chunk(folder / f"w{j}", names[j::jobs], per_file, startup, memory, results,
                                           worker_code), range(jobs)))  # fmt: skip
    return [
        {**results[c.name], "kind": c.kind, "seed": c.seed, "outcome": outcome(results[c.name]["steps"])} for c in cases
    ]


def table(results: list[dict[str, object]]) -> str:
    """Counts per outcome, and per mutation kind and outcome, as text."""
    outcomes = [RESTORED, REFUSED, *FAILURES]
    totals = Counter(r["outcome"] for r in results)
    lines = [f"{len(results)} files: " + ", ".join(f"{o} {totals[o]}" for o in outcomes if totals[o])]
    lines.append(f"{'kind':<18}" + "".join(f"{o[:10]:>11}" for o in outcomes))
    for kind in sorted({r["kind"] for r in results}):
        counts = Counter(r["outcome"] for r in results if r["kind"] == kind)
        lines.append(f"{kind:<18}" + "".join(f"{counts[o]:>11}" for o in outcomes))
    return "\n".join(lines)

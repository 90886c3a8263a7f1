"""Maleki et al. 2018, "BlockCNN: A Deep Network for Artifact Removal and Image Compression", re-measured.

Each subcommand prints its tables (``--markdown``: Markdown, for ``docs/results/blockcnn2018.md``), writes
``blockcnn2018_<part>.json`` under ``--results`` and its figures under ``--figures``:

- ``rd``: rate-distortion on Kodak24 (lossless originals): bits per pixel (the whole file), RGB PSNR, luma PSNR
  (MATLAB-style BT.601 Y, rounded to 8 bits, as the project's gray track) and SSIM (RGB, mean of the channels), each
  the mean over the images at one quality setting; encode and decode seconds per image. Curves: JPEG (libjpeg-turbo
  via Pillow, 4:2:0, optimised Huffman tables), mozjpeg (jpeglib's build, with mozjpeg's defaults: progressive,
  trellis quantization, its own tables, 4:2:0), JPEG decoded and post-filtered by ``--postfilter`` (default: dejpeg's
  default model, ``dejpeg.api.restore`` on the file's bytes), WebP and AVIF through Pillow (AVIF 4:2:0), and the
  BlockCNN codec (``dejpeg.blockcodec``) with and without the post-filter when ``--predictor`` has weights. Then the
  BD-rates (``dejpeg.metrics.bd_rate``, PCHIP and VCEG-M33 cubic) of every curve against JPEG and against JPEG +
  post-filter, over ``--low-rate`` (0.1-0.5 bits per pixel) and over the range the curves share; and an RD plot.
- ``fig2``: Figure 2, the mean squared error at each of the 64 positions of the 8x8 block after JPEG at ``--quality``
  (gray track: MATLAB-style Y coded as a gray JPEG, as ``dejpeg.evaluation``), over every whole block of BSDS500
  test200, as a heat map; the same after each of ``--models`` that has weights (the network alone, without the DCT
  consistency step, as in the paper), and how flat each map is (``dejpeg.metrics.block_position_structure``).

The post-filtered curves' decode time is the decoding plus the post-filter (``restore`` decodes the JPEG again, a few
milliseconds of it). Models are registry names with weights or finished run folders; without them their curves are
skipped with a note. The helpers shared with the other papers' scripts are imported from ``svoboda2016``.

    OMP_NUM_THREADS=1 python benchmarks/blockcnn2018.py rd --curves jpeg mozjpeg jpeg_postfilter webp avif
    OMP_NUM_THREADS=2 python benchmarks/blockcnn2018.py rd --decode-images 2 --threads 2 \
        --cache runs/blockcnn2018_rd.jsonl
    OMP_NUM_THREADS=2 python benchmarks/blockcnn2018.py fig2 --models blockcnn.q20_bsds300 MORE_MODELS... --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jpeglib
import numpy as np
import torch
from PIL import Image, features
from svoboda2016 import finished, json_path, render
from tqdm import tqdm

from dejpeg import blockcodec
from dejpeg.api import load_model, restore, restore_array
from dejpeg.arrays import u8_to_tensor
from dejpeg.codec import decode, encode, load_rgb_u8, read_qtables
from dejpeg.codec.blockcnn import unpack
from dejpeg.codec.images import Encoding, avif_available, encode_image
from dejpeg.evaluation import load_reference
from dejpeg.files import atomic_write_bytes, list_images
from dejpeg.jpeg import rgb_to_y_bt601_u8
from dejpeg.metrics import bd_rate, block_position_mse, block_position_structure, psnr, ssim
from dejpeg.models import default_model_name, get_entry, list_models
from dejpeg.models.blockcnn import BlockCnnPredictor
from dejpeg.runs import is_run
from dejpeg.studies.report import heat_map, line_plot

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "val" / "kodak24"
BSDS = ROOT.parent / "shared" / "data" / "val" / "bsds500-test200"
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "results" / "img"
MOZJPEG = "mozjpeg403"
#: Quality settings of each codec, chosen so that each curve spans about 0.1-1.5 bits per pixel on Kodak24 (measured
#: on six of its images). The BlockCNN codec's residual qualities are JPEG's until a trained predictor shows its
#: rates.
QUALITIES = {
    "jpeg": (3, 5, 8, 12, 17, 25, 35, 50, 65, 75),
    "mozjpeg": (5, 8, 12, 18, 25, 35, 50, 65, 75, 80),
    "webp": (1, 5, 15, 30, 45, 60, 75, 82),
    "avif": (1, 10, 20, 30, 40, 50, 60, 70),
    "blockcnn": (3, 5, 8, 12, 17, 25, 35, 50, 65, 75),
}
CURVES = ("jpeg", "mozjpeg", "jpeg_postfilter", "webp", "avif", "blockcnn", "blockcnn_postfilter")
ANCHORS = ("jpeg", "jpeg_postfilter")
BD_METHODS = ("pchip", "cubic")
PSNR_KEYS = {"psnr": "RGB PSNR", "psnr_y": "luma PSNR"}


# --- shared ------------------------------------------------------------------------------------------------------


def model_source(spec: str) -> str | None:
    """``spec`` if it is a finished run folder or a registry name with weights, else None."""
    if is_run(spec):
        return finished(spec)
    return spec if spec in list_models() and get_entry(spec).ready else None


def write_json(args: argparse.Namespace, part: str, record: dict[str, Any]) -> Path:
    """As ``svoboda2016.write_json``, less its ``--consistency`` setting, which this script does not have."""
    path = json_path(args, part, "blockcnn2018")
    path.parent.mkdir(parents=True, exist_ok=True)
    common = {"data": str(args.data), "max_images": args.max_images, "threads": torch.get_num_threads()}
    atomic_write_bytes((json.dumps({**common, **record}, indent=2) + "\n").encode(), path)
    return path


def shown(path: Path) -> str:
    """A path for the JSON: relative to the repository when inside it, so records do not name a checkout."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def as_batch(image_u8: np.ndarray) -> torch.Tensor:
    return u8_to_tensor(image_u8, torch.float64, unit_range=False)


# --- rd ----------------------------------------------------------------------------------------------------------


def pillow_decode(data: bytes) -> np.ndarray:
    """RGB pixels of a JPEG, WebP or AVIF file, as Pillow's decoders give them."""
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB"))  # a writable copy, as torch wants


def pillow_encoder(suffix: str, subsampling: str | None) -> Callable[[np.ndarray, int], tuple[bytes, None]]:
    """The writer ``dejpeg restore`` uses for ``suffix`` (JPEG: optimised Huffman tables) at a quality."""
    return lambda image, quality: (encode_image(image, suffix, encoding=Encoding(quality, subsampling)), None)


def mozjpeg_encode(image: np.ndarray, quality: int) -> tuple[bytes, None]:
    """mozjpeg with its defaults (jpeglib writes files only; its libjpeg version is switched back afterwards)."""
    with tempfile.TemporaryDirectory(prefix="dejpeg-") as tmp, jpeglib.version(MOZJPEG):
        path = os.path.join(tmp, "out.jpg")
        jpeglib.from_spatial(image).write_spatial(path, qt=quality)
        return Path(path).read_bytes(), None


@dataclasses.dataclass(frozen=True)
class Codec:
    """A codec's curve: ``encode(image, quality) -> (bytes, reconstruction)`` and ``decode(bytes) -> RGB``; with
    ``postfilter(bytes, decoded) -> RGB``, a second curve ``<name>_postfilter`` of the same files. The
    reconstruction is the decoder's output where the encoder knows it exactly (the BlockCNN codec), else None.
    ``identity``: what else its points depend on (libraries, weights), to key the ``--cache``."""

    name: str
    qualities: tuple[int, ...]
    encode: Callable[[np.ndarray, int], tuple[bytes, np.ndarray | None]]
    decode: Callable[[bytes], np.ndarray]
    identity: str
    postfilter: Callable[[bytes, np.ndarray], np.ndarray] | None = None


def codecs(args: argparse.Namespace, notes: list[str]) -> list[Codec]:
    """The codecs the chosen curves need; those without their model or library are left out with a note."""
    wanted = set(args.curves)
    chosen: list[Codec] = []
    postfilter, filtered_by = None, ""
    if wanted & {"jpeg_postfilter", "blockcnn_postfilter"}:
        net = load_model(args.postfilter)
        precision = args.precision
        filtered_by = f", post-filter {blockcodec.weights_sha256(net)[:16]} {precision}"

        def jpeg_filter(data: bytes, decoded: np.ndarray) -> np.ndarray:
            return restore(data, net, precision=precision)

        def plane_filter(data: bytes, decoded: np.ndarray) -> np.ndarray:
            # as blockcodec.decode_image(postfilter=) does, without decoding the file a second time
            return restore_array(decoded, np.asarray(unpack(data).residuals.qtables), net, precision=precision)

        postfilter = {"jpeg": jpeg_filter, "blockcnn": plane_filter}
    if wanted & {"jpeg", "jpeg_postfilter"}:
        pf = postfilter["jpeg"] if "jpeg_postfilter" in wanted and postfilter else None
        identity = f"libjpeg-turbo {features.version_feature('libjpeg_turbo')}" + (filtered_by if pf else "")
        chosen.append(Codec("jpeg", QUALITIES["jpeg"], pillow_encoder(".jpg", "420"), pillow_decode, identity, pf))
    if "mozjpeg" in wanted:
        identity = f"jpeglib {jpeglib.__version__} {MOZJPEG}"
        chosen.append(Codec("mozjpeg", QUALITIES["mozjpeg"], mozjpeg_encode, pillow_decode, identity))
    if "webp" in wanted:
        identity = f"libwebp {features.version('webp')}"
        chosen.append(Codec("webp", QUALITIES["webp"], pillow_encoder(".webp", None), pillow_decode, identity))
    if "avif" in wanted and not avif_available():
        notes.append("avif: skipped, this Pillow cannot write AVIF")
    elif "avif" in wanted:
        identity = f"libavif {features.version('avif')}"
        chosen.append(Codec("avif", QUALITIES["avif"], pillow_encoder(".avif", "420"), pillow_decode, identity))
    if wanted & {"blockcnn", "blockcnn_postfilter"}:
        source = model_source(args.predictor)
        if source is None:
            notes.append(
                f"blockcnn, blockcnn_postfilter: skipped, {args.predictor} has no trained weights (train "
                "configs/blockcnn_predictor.bsds300/, then pass --predictor with the run folder)"
            )
        else:
            predictor = load_model(source)
            if not isinstance(predictor, BlockCnnPredictor):
                raise ValueError(f"--predictor {args.predictor} is a {type(predictor).__name__}, not a predictor")

            def codec_encode(image: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
                encoded = blockcodec.encode_image(image, quality, predictor)
                return encoded.data, encoded.reconstruction

            def codec_decode(data: bytes) -> np.ndarray:
                return blockcodec.decode_image(data, predictor)

            pf = postfilter["blockcnn"] if "blockcnn_postfilter" in wanted and postfilter else None
            identity = f"predictor {blockcodec.weights_sha256(predictor)[:16]}" + (filtered_by if pf else "")
            chosen.append(Codec("blockcnn", QUALITIES["blockcnn"], codec_encode, codec_decode, identity, pf))
    return chosen


def scores(decoded: np.ndarray, original: np.ndarray) -> dict[str, float]:
    pair = as_batch(decoded), as_batch(original)
    luma = as_batch(rgb_to_y_bt601_u8(decoded)), as_batch(rgb_to_y_bt601_u8(original))
    return {"psnr": psnr(*pair, 255.0).item(), "psnr_y": psnr(*luma, 255.0).item(), "ssim": ssim(*pair, 255.0).item()}


def measure_point(
    codec: Codec, quality: int, original: np.ndarray, decode: bool, label: str
) -> dict[str, dict[str, float]]:
    """One image at one quality: the codec's row (bpp, scores, seconds) and, with a post-filter, its curve's row.

    ``decode``: decode the file even where the encoder knows its reconstruction (then checked equal to it); else
    the row is scored on that reconstruction and has no ``decode_s``.
    """
    pixels = original.shape[0] * original.shape[1]
    began = time.perf_counter()
    data, decoded = codec.encode(original, quality)
    encoded = time.perf_counter()
    timing = {"encode_s": encoded - began}
    if decoded is None or decode:
        reconstruction, decoded = decoded, codec.decode(data)
        timing["decode_s"] = time.perf_counter() - encoded
        if reconstruction is not None and not np.array_equal(decoded, reconstruction):
            raise RuntimeError(f"{codec.name} Q{quality}, {label}: decoded != encoder's reconstruction")
    base = {"bpp": 8 * len(data) / pixels, **timing}
    rows = {codec.name: {**base, **scores(decoded, original)}}
    if codec.postfilter is not None:
        began = time.perf_counter()
        filtered = codec.postfilter(data, decoded)
        filter_seconds = time.perf_counter() - began
        row = {**base, **scores(filtered, original), "postfilter_s": filter_seconds}
        if "decode_s" in timing:
            row["decode_s"] = timing["decode_s"] + filter_seconds
        rows[f"{codec.name}_postfilter"] = row
    return rows


def read_cache(cache: Path | None) -> dict[str, dict[str, dict[str, float]]]:
    """The per-point rows an earlier run appended to ``cache`` (JSON lines), by key; a last line cut short by a
    stop is dropped from the file."""
    if cache is None or not cache.is_file():
        return {}
    text = cache.read_text()
    complete = text[: text.rfind("\n") + 1]
    if complete != text:
        atomic_write_bytes(complete.encode(), cache)
    entries = (json.loads(line) for line in complete.splitlines())
    return {entry["key"]: entry["rows"] for entry in entries}


def measure(
    files: list[Path],
    chosen: list[Codec],
    wanted: set[str],
    decode_images: int | None = None,
    cache: Path | None = None,
) -> dict[str, dict[int, list[dict[str, float]]]]:
    """Per curve and quality, one record per image: bpp, the scores, encode and decode seconds.

    A codec whose encoder knows its reconstruction has its files decoded for the first ``decode_images`` images
    only (all when None); see :func:`measure_point`. Why: the BlockCNN codec's decoder costs as much as its encoder,
    about a minute of one core per Kodak image. With ``cache``, each point is appended to it as it is measured and
    the points already there (same image, codec, quality and weights) are not measured again, so a long run that
    stops continues where it stopped; the key holds the thread count, so the seconds of one run are never mixed with
    another's.
    """
    done = read_cache(cache)
    records: dict[str, dict[int, list[dict[str, float]]]] = {}
    for index, path in enumerate(tqdm(files, desc="images", unit="image")):
        original = None  # read only if a point of the image is not in the cache
        for codec in chosen:
            for quality in codec.qualities:
                key = f"{path}|{codec.name}|{quality}|{codec.identity}|{torch.get_num_threads()} thread(s)"
                rows = done.get(key)
                if rows is None:
                    original = load_rgb_u8(path) if original is None else original
                    decode = decode_images is None or index < decode_images
                    rows = measure_point(codec, quality, original, decode, path.name)
                    if cache is not None:
                        with cache.open("a") as stream:
                            stream.write(json.dumps({"key": key, "rows": rows}) + "\n")
                for name, row in rows.items():
                    if name != codec.name or name in wanted:
                        records.setdefault(name, {}).setdefault(quality, []).append(row)
    return records


def mean_points(records: dict[int, list[dict[str, float]]]) -> list[dict[str, float]]:
    """Per quality, the mean of each value over the images that have it (``decode_s``: the decoded ones)."""
    return [
        {
            "quality": quality,
            **{
                key: float(np.mean([r[key] for r in rows if key in r]))
                for key in dict.fromkeys(k for r in rows for k in r)
            },
        }
        for quality, rows in sorted(records.items())
    ]


def mean_seconds(points: list[dict[str, float]], key: str) -> str:
    """The mean over the qualities that have ``key``; n/a where none has (no file decoded)."""
    values = [p[key] for p in points if key in p]
    return f"{np.mean(values):.3f}" if values else "n/a"


def rate_ranges(low_rate: tuple[float, float]) -> dict[str, tuple[float, float] | None]:
    return {f"{low_rate[0]:g}-{low_rate[1]:g} bpp": low_rate, "full": None}


def bd_table(curves: dict[str, list[dict[str, float]]], low_rate: tuple[float, float]) -> dict[str, Any]:
    """BD-rate (per cent) of every curve against each anchor: ``[psnr key][anchor][curve][range][method]``; None
    where it is undefined, the reason under ``[...][curve]["errors"]``."""
    table: dict[str, Any] = {}
    for key in PSNR_KEYS:
        for anchor in (a for a in ANCHORS if a in curves):
            rates, psnrs = [p["bpp"] for p in curves[anchor]], [p[key] for p in curves[anchor]]
            for name, points in curves.items():
                if name == anchor:
                    continue
                cell = table.setdefault(key, {}).setdefault(anchor, {}).setdefault(name, {})
                for label, rate_range in rate_ranges(low_rate).items():
                    for method in BD_METHODS:
                        try:
                            value = bd_rate(rates, psnrs, [p["bpp"] for p in points], [p[key] for p in points],
                                            method, rate_range)  # fmt: skip
                        except ValueError as error:
                            value = None
                            cell.setdefault("errors", {})[f"{label}, {method}"] = str(error)
                        cell.setdefault(label, {})[method] = value
    return table


def bd_cell(cell: dict[str, Any] | None, label: str) -> str:
    """PCHIP (cubic), "-12.3 % (-11.9 %)"; empty for the anchor itself, n/a where undefined."""
    if cell is None:
        return ""
    pchip, cubic = ("n/a" if v is None else f"{v:+.1f} %" for v in (cell[label]["pchip"], cell[label]["cubic"]))
    return f"{pchip} ({cubic})"


def rd(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    notes: list[str] = []
    chosen = codecs(args, notes)
    files = list_images(args.data)[: args.max_images]
    records = measure(files, chosen, set(args.curves), args.decode_images, args.cache)
    curves = {name: mean_points(records[name]) for name in CURVES if name in records}
    bd = bd_table(curves, tuple(args.low_rate))
    rows = [
        [name, p["quality"], f"{p['bpp']:.3f}", f"{p['psnr']:.2f}", f"{p['psnr_y']:.2f}", f"{p['ssim']:.4f}"]
        for name, points in curves.items()
        for p in points
    ]
    lines = [f"Kodak24 ({len(files)} images), means over the images"]
    lines.append(render(("curve", "quality", "bpp", "RGB PSNR", "luma PSNR", "SSIM"), rows, args.markdown))
    speed_rows = [
        [name, *(mean_seconds(points, key) for key in ("encode_s", "decode_s"))] for name, points in curves.items()
    ]
    lines += ["", f"Seconds per image, mean over the qualities, {torch.get_num_threads()} thread(s)"]
    lines.append(render(("curve", "encode s", "decode s"), speed_rows, args.markdown))
    ranges = list(rate_ranges(tuple(args.low_rate)))
    for key, title in PSNR_KEYS.items():
        anchors = list(bd.get(key, {}))
        headers = ["curve", *(f"vs {anchor}, {r}" for anchor in anchors for r in ranges)]
        bd_rows = [
            [name, *(bd_cell(bd[key][anchor].get(name), r) for anchor in anchors for r in ranges)] for name in curves
        ]
        if anchors:
            lines += ["", f"BD-rate on {title}, PCHIP (VCEG-M33 cubic); negative: fewer bits for the same PSNR"]
            lines.append(render(headers, bd_rows, args.markdown))
    figure = args.figures / "blockcnn2018_rd.png"
    drawn = bool(curves) and line_plot(
        figure,
        {name: ([p["bpp"] for p in points], [p["psnr"] for p in points]) for name, points in curves.items()},
        "bits per pixel",
        "RGB PSNR (dB)",
        f"Kodak24 ({len(files)} images): rate-distortion",
        legend_outside=True,
    )
    if drawn:
        lines.append(f"\nplot: {figure}")
    lines += notes
    record = {
        "images": len(files),
        "curves": curves,
        "qualities": {c.name: list(c.qualities) for c in chosen},
        "bd_rate_percent": bd,
        "low_rate_bpp": list(args.low_rate),
        "postfilter": args.postfilter or default_model_name(),
        "precision": args.precision,
        "predictor": args.predictor,
        "decode_images": args.decode_images,
        "versions": {
            "pillow": Image.__version__,
            "libjpeg_turbo": features.version_feature("libjpeg_turbo"),
            "libwebp": features.version("webp"),
            "libavif": features.version("avif") if avif_available() else None,
            "mozjpeg": f"jpeglib {jpeglib.__version__}, {MOZJPEG}",
        },
        "machine": platform.processor() or platform.machine(),
        "figure": shown(figure) if drawn else None,
        "notes": notes,
    }
    return "\n".join(lines), record


# --- fig2 --------------------------------------------------------------------------------------------------------


def position_maps(files: list[Path], quality: int, nets: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """The per-position MSE over every whole block of every image (each image weighted by its blocks), after JPEG
    ("jpeg") and after each of ``nets`` (the network alone, in fp32, no DCT consistency step)."""
    sums: dict[str, torch.Tensor] = {}
    blocks = 0
    for path in tqdm(files, desc="images", unit="image"):
        reference = load_reference(path, gray=True)
        data = encode(reference, quality=quality)
        decoded = decode(data)
        count = (reference.shape[0] // 8) * (reference.shape[1] // 8)
        outputs = {"jpeg": decoded}
        for name, net in nets.items():
            outputs[name] = restore_array(decoded, read_qtables(data), net, precision="fp32")
        for name, image in outputs.items():
            mse = block_position_mse(as_batch(image), as_batch(reference))[0]
            sums[name] = sums.get(name, torch.zeros(8, 8, dtype=torch.float64)) + count * mse
        blocks += count
    return {name: total / blocks for name, total in sums.items()}


def figure_name(name: str) -> str:
    """blockcnn2018_fig2.png for JPEG, blockcnn2018_fig2_<model>.png for a model (a run folder by its name)."""
    if name == "jpeg":
        return "blockcnn2018_fig2.png"
    return "blockcnn2018_fig2_" + "".join(c if c.isalnum() else "_" for c in Path(name).name) + ".png"


def fig2(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    notes, nets = [], {}
    for spec in args.models:
        source = model_source(spec)
        if source is None:
            notes.append(f"{spec}: skipped, no trained weights (pass a finished run folder)")
        else:
            nets[spec] = load_model(source)
    files = list_images(args.data)[: args.max_images]
    maps = position_maps(files, args.quality, nets)
    lines, results = [], {}
    for name, grid in maps.items():
        label = f"JPEG Q{args.quality}" if name == "jpeg" else f"{name} on JPEG Q{args.quality}"
        structure = block_position_structure(grid)
        results[name] = {"label": label, "mse": grid.tolist(), "mean_mse": grid.mean().item(), **structure}
        figure = args.figures / figure_name(name)
        drawn = heat_map(
            figure,
            grid.tolist(),
            [str(i) for i in range(8)],
            [str(j) for j in range(8)],
            "column in the block",
            "row in the block",
            f"{label}: MSE by position, {len(files)} images, gray",
            "MSE (grey levels squared)",
        )
        results[name]["figure"] = shown(figure) if drawn else None
        rows = [[str(i), *(f"{v:.1f}" for v in grid[i].tolist())] for i in range(8)]
        lines += [f"{label}: MSE at each position of the 8x8 block ({len(files)} images, gray)"]
        lines.append(render(["row \\ column", *map(str, range(8))], rows, args.markdown))
        lines.append(
            f"mean {grid.mean().item():.2f}; border/inner {structure['border_to_inner']:.3f}, corner/centre "
            f"{structure['corner_to_centre']:.3f}, coefficient of variation {structure['variation']:.3f}"
        )
        lines.append(f"heat map: {figure}\n" if drawn else "")
    lines += notes
    record = {"images": len(files), "quality": args.quality, "maps": results, "notes": notes}
    return "\n".join(lines), record


# --- command line ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--max-images", type=int, default=None, metavar="N", help="only the first N images")
    common.add_argument("--threads", type=int, default=1, help="torch threads")
    common.add_argument("--markdown", action="store_true", help="print Markdown tables")
    common.add_argument("--results", type=Path, default=RESULTS, help="folder of the JSON")
    common.add_argument("--figures", type=Path, default=FIGURES, help="folder of the plots")
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("rd", parents=[common], help="rate-distortion curves and BD-rates on Kodak24")
    p.add_argument("--data", type=Path, default=KODAK, help="lossless originals (Kodak24)")
    p.add_argument("--curves", nargs="+", choices=CURVES, default=list(CURVES))
    p.add_argument("--predictor", default=blockcodec.DEFAULT_PREDICTOR, help="registry name or finished run folder")
    p.add_argument("--postfilter", default=None, help="registry name or run folder (default: the default model)")
    p.add_argument("--precision", default="fp32", help="the post-filter's, as dejpeg restore --precision")
    p.add_argument("--decode-images", type=int, default=None, metavar="N",
                   help="decode the BlockCNN codec's files of the first N images only (checked equal to the "
                   "encoder's reconstruction); the rest are scored on that reconstruction")  # fmt: skip
    p.add_argument("--cache", type=Path, default=None, metavar="FILE",
                   help="append each measured point to FILE (JSON lines) and reuse the points already there: "
                   "rerun with the same FILE to continue a run that stopped")  # fmt: skip
    p.add_argument("--low-rate", type=float, nargs=2, default=[0.1, 0.5], metavar=("LOW", "HIGH"),
                   help="the low-rate BD range, bits per pixel")  # fmt: skip
    p = sub.add_parser("fig2", parents=[common], help="Fig. 2: MSE by position in the 8x8 block")
    p.add_argument("--data", type=Path, default=BSDS, help="BSDS500 test200")
    p.add_argument("--quality", type=int, default=20)
    p.add_argument("--models", nargs="*", default=["blockcnn"], help="restorers: registry names or finished runs")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (from ../shared/data)")
    torch.set_num_threads(args.threads)
    args.figures.mkdir(parents=True, exist_ok=True)
    text, record = {"rd": rd, "fig2": fig2}[args.part](args)
    print(text)
    print(f"\nwrote {write_json(args, args.part, record)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

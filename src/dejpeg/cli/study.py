"""``dejpeg study NAME --config FILE [--out DIR] [--device cpu] [--quiet]``: run or resume a classification study;
``dejpeg study report DIR``: re-write a finished study's plots and report.html from its saved tables."""

from __future__ import annotations

import argparse

from dejpeg.cli._inputs import add_device_option
from dejpeg.studies import STUDIES, load_study_config, render_report, run_study

REPORT = "report"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="run a classification study (re-running resumes; results + report.html)")
    p.add_argument(
        "name",
        choices=sorted(STUDIES) + [REPORT],
        help="restoration: restore before classifying; preprocessing: fine-tune on JPEG copies of a data set; "
        "report: re-draw the plots and report.html of the results folder FOLDER from its saved tables",
    )
    p.add_argument("folder", nargs="?", help="with 'report': the results folder of a finished study")
    p.add_argument("--config", help="YAML file, e.g. configs/studies/restoration_cifar10.yaml")
    p.add_argument("--out", default=None, help="override the results folder (out_dir)")
    add_device_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _format(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def run(args: argparse.Namespace) -> int:
    if args.name == REPORT:
        if args.folder is None:
            raise ValueError("'study report' needs the results folder, e.g. dejpeg study report studies/NAME")
        print(f"report: {render_report(args.folder)}")
        return 0
    if args.config is None or args.folder is not None:
        raise ValueError(f"'study {args.name}' takes --config FILE (and no folder; use --out)")
    cfg = load_study_config(args.name, args.config, out_dir=args.out)
    result = run_study(args.name, cfg, device=args.device, progress=not args.quiet)
    rows = result["summary"] if args.name == "restoration" else result["levels"]
    columns = [c for c in rows[0] if c not in ("restorer", "images")]
    print("  ".join(f"{c:>12}" for c in columns))
    for row in rows:
        print("  ".join(f"{_format(row.get(c, '')):>12}" for c in columns))
    print(f"report: {result['report']}")
    return 0

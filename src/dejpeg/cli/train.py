"""``dejpeg train CONFIG [--steps N] [--out DIR] [--stop-at N] [--no-resume]`` (also under ``torchrun``)."""

from __future__ import annotations

import argparse
import json

from dejpeg.train import fit, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a registered model from a YAML/TOML config")
    p.add_argument("config", help="YAML/TOML config file, e.g. configs/unet.cifar10_q1_n2n/01_train.yaml")
    p.add_argument("--steps", type=int, default=None, help="override the number of steps")
    p.add_argument("--out", default=None, help="override the output directory")
    p.add_argument("--stop-at", type=int, default=None, help="end this invocation after that step (resumable)")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("steps", args.steps), ("out_dir", args.out)) if v is not None}
    cfg = load_config(args.config, overrides)
    history = fit(cfg, resume=not args.no_resume, progress=not args.quiet, stop_at=args.stop_at)
    if history.val:
        print(json.dumps(history.val[-1]))
    if history.weights:
        print(f"weights: {history.weights}")
    return 0

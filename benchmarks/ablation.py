"""Ablations of the default model's design, measured on BSDS500 test200 (grayscale track).

Two parts, printed as Markdown tables and written as JSON:

1. Training ablations at an equal, short budget (``configs/ablations/*.yaml``: 1,000 steps x 16 gray
   patches, same seed and data stream): DCT-domain input/output vs raw pixels, with vs without the
   quantization-table conditioning, blind (quality 1..100) vs one model trained at Q10 only.
   Arms whose run is missing are trained first (about 10 min each on one core).
2. The DCT consistency step on vs off for a shipped model (no training), gray and colour.

    python benchmarks/ablation.py --json benchmarks/results/ablation.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from dejpeg.evaluation import evaluate
from dejpeg.models import default_model_name
from dejpeg.train.engine import FINAL_WEIGHTS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "val" / "bsds500-test200"
ARMS = {
    "dct_blind": "DCT in/out, table-conditioned, blind (the default recipe)",
    "dct_unconditioned": "DCT in/out, no table input at all, blind",
    "pixel_blind": "raw pixels in/out, table-conditioned, blind",
    "dct_q10": "DCT in/out, table-conditioned, trained at Q10 only",
}
QUALITIES = (10, 40)


def _run_dir(arm: str) -> Path:
    return ROOT / "runs" / "ablations" / arm


def train_missing(arms: list[str]) -> None:
    for arm in arms:
        if not (_run_dir(arm) / FINAL_WEIGHTS).is_file():
            config = ROOT / "configs" / "ablations" / f"{arm}.yaml"
            subprocess.run([sys.executable, "-m", "dejpeg.cli", "train", str(config)], cwd=ROOT, check=True)


def training_ablation(arms: list[str], data: Path, max_images: int | None) -> dict[str, dict]:
    results = {}
    for arm in arms:
        result = evaluate(data, model=str(_run_dir(arm)), qualities=QUALITIES, gray=True, max_images=max_images)
        results[arm] = {r["quality"]: r for r in result["rows"]}
    return results


def consistency_ablation(model: str | None, data: Path, max_images: int | None) -> dict[str, dict]:
    results = {}
    for gray in (True, False):
        for on in (True, False):
            result = evaluate(
                data, model=model, qualities=(10, 40, 90), gray=gray, max_images=max_images, consistency=on
            )
            results[f"{'gray' if gray else 'color'}/{'on' if on else 'off'}"] = {
                r["quality"]: r for r in result["rows"]
            }
    return results


def format_tables(training: dict[str, dict], consistency: dict[str, dict], model: str) -> str:
    lines = []
    if training:
        lines += [
            "Training ablation: PSNR gain over JPEG (dB), grayscale BSDS500 test200, 1,000 steps each",
            "| arm | " + " | ".join(f"Q{q}" for q in QUALITIES) + " |",
            "|---" * (len(QUALITIES) + 1) + "|",
        ]
    for arm, rows in training.items():
        lines.append(f"| {ARMS[arm]} | " + " | ".join(f"{rows[q]['psnr_gain']:+.2f}" for q in QUALITIES) + " |")
    if consistency:
        lines += ["", f"DCT consistency step, model {model}: PSNR gain over JPEG (dB), BSDS500 test200"]
        lines += ["| track | step | Q10 | Q40 | Q90 |", "|---|---|---|---|---|"]
    for key, rows in consistency.items():
        track, on = key.split("/")
        lines.append(f"| {track} | {on} | " + " | ".join(f"{rows[q]['psnr_gain']:+.3f}" for q in (10, 40, 90)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model for the consistency part (default: the default model)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--parts", nargs="+", default=["training", "consistency"], choices=["training", "consistency"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (BSDS500 test200 from ../shared/data)")
    training, consistency = {}, {}
    if "training" in args.parts:
        train_missing(args.arms)
        training = training_ablation(args.arms, args.data, args.max_images)
    if "consistency" in args.parts:
        consistency = consistency_ablation(args.model, args.data, args.max_images)
    name = args.model or default_model_name()
    print(format_tables(training, consistency, name))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        record = {"model": name, "arms": ARMS, "training": training, "consistency": consistency}
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The artifact-reduction table: our model against published methods on BSDS500 test200.

Runs :func:`dejpeg.evaluate` on the grayscale track (Q10/20/30/40, and Q90 where a model must not
lose), the colour track (RGB 4:2:0, same qualities), prints the published gains beside ours, and
writes JSON.

    python benchmarks/car_table.py --model dejpeg_net.blind_bsds300 --json benchmarks/results/car_bsds500.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dejpeg.api import evaluate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val" / "bsds500-test200"
QUALITIES = (10, 20, 30, 40)

#: Published grayscale PSNR gains (dB) over JPEG on BSDS500 test200 (JPEG 27.80/30.05/31.37/32.30).
PUBLISHED_GRAY_GAINS = {
    "ARCNN (one model per quality)": (1.30, 1.23, 1.30, 1.25),
    "DnCNN-3 (blind, 0.67 M)": (1.41, 1.48, 1.53, 1.55),
    "QGAC (blind via tables, ~259 M)": (1.66, 1.68, 1.70, 1.71),
    "FBCNN (blind, 72 M)": (1.87, 1.95, 2.00, 2.03),
}


def run(model: str | None, data: Path, max_images: int | None, extra_quality: int | None) -> dict:
    qualities = QUALITIES + ((extra_quality,) if extra_quality else ())
    tracks = {}
    for gray in (True, False):
        tracks["gray" if gray else "color"] = evaluate(
            data, model=model, qualities=qualities, gray=gray, max_images=max_images
        )
    return tracks


def format_table(tracks: dict, model_name: str) -> str:
    head = "| method | " + " | ".join(f"Q{q}" for q in QUALITIES) + " |"
    lines = ["Grayscale PSNR gain over JPEG (dB), BSDS500 test200", head, "|---" * (len(QUALITIES) + 1) + "|"]
    jpeg = {r["quality"]: r for r in tracks["gray"]["rows"]}
    lines.append("| JPEG (PSNR dB) | " + " | ".join(f"{jpeg[q]['jpeg_psnr']:.2f}" for q in QUALITIES) + " |")
    for name, gains in PUBLISHED_GRAY_GAINS.items():
        lines.append(f"| {name} | " + " | ".join(f"+{g:.2f}" for g in gains) + " |")
    for track in ("gray", "color"):
        rows = {r["quality"]: r for r in tracks[track]["rows"]}
        lines.append(
            f"| **{model_name}** ({track}) | " + " | ".join(f"{rows[q]['psnr_gain']:+.2f}" for q in QUALITIES) + " |"
        )
    lines.append("")
    lines.append("| track | Q | JPEG PSNR | PSNR | gain | JPEG SSIM | SSIM | JPEG PSNR-B | PSNR-B | MP/s |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for track in ("gray", "color"):
        for r in tracks[track]["rows"]:
            lines.append(
                f"| {track} | {r['quality']} | {r['jpeg_psnr']:.2f} | {r['psnr']:.2f} | {r['psnr_gain']:+.2f} | "
                f"{r['jpeg_ssim']:.4f} | {r['ssim']:.4f} | {r['jpeg_psnrb']:.2f} | {r['psnrb']:.2f} | "
                f"{r['megapixels_per_s']:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="registry name (default: the default model)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--extra-quality", type=int, default=90, help="one more quality, 0 for none")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (BSDS500 test200 from ../shared/data)")
    tracks = run(args.model, args.data, args.max_images, args.extra_quality or None)
    name = tracks["gray"]["model"]
    print(format_table(tracks, name))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        record = {
            "model": name,
            "threads": torch.get_num_threads(),
            "tracks": tracks,
            "published_gray_gains": PUBLISHED_GRAY_GAINS,
        }
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

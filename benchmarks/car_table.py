"""The artifact-reduction table: our model against published methods on BSDS500 test200.

Runs :func:`dejpeg.evaluate` on the grayscale track (Q10/20/30/40, and Q90 where a model must not
lose), the colour track (RGB 4:2:0, same qualities), prints the published gains beside ours, and
writes JSON. Our rows add the end-to-end speed (colour 1 MP JPEG -> PNG) and the peak memory on a
12 MP photo from ``restore_speed.py``.

    python benchmarks/car_table.py --model dejpeg_net_dct_w160.blind_bsds300 --json benchmarks/results/car_bsds500.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from restore_speed import measure

from dejpeg.evaluation import evaluate
from dejpeg.models import PRECISIONS

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val" / "bsds500-test200"
QUALITIES = (10, 20, 30, 40)

#: Published grayscale PSNR gains (dB) over JPEG on BSDS500 test200 (JPEG 27.80/30.05/31.37/32.30).
PUBLISHED_GRAY_GAINS = {
    "ARCNN (one model per quality)": (1.30, 1.23, 1.30, 1.25),
    "DnCNN-3 (blind, 0.67 M)": (1.41, 1.48, 1.53, 1.55),
    "QGAC (blind via tables, ~259 M)": (1.66, 1.68, 1.70, 1.71),
    "FBCNN (blind, 72 M)": (1.87, 1.95, 2.00, 2.03),
}


def run(
    model: str | None, data: Path, max_images: int | None, extra_quality: int | None, precision: str = "auto"
) -> dict:
    qualities = QUALITIES + ((extra_quality,) if extra_quality else ())
    tracks = {}
    for gray in (True, False):
        tracks["gray" if gray else "color"] = evaluate(
            data, model=model, qualities=qualities, gray=gray, max_images=max_images, precision=precision
        )
    return tracks


def format_table(tracks: dict, model_name: str, speed: list[dict] | None = None) -> str:
    extra = sorted({r["quality"] for r in tracks["gray"]["rows"]} - set(QUALITIES))
    head = (
        "| method | " + " | ".join(f"Q{q}" for q in (*QUALITIES, *extra)) + " | MP/s (1 MP colour) | peak GiB (12 MP) |"
    )
    lines = ["PSNR gain over JPEG (dB), BSDS500 test200", head, "|---" * (len(QUALITIES) + len(extra) + 3) + "|"]
    jpeg = {r["quality"]: r for r in tracks["gray"]["rows"]}
    blanks = " | " * len(extra) + " | |"
    lines.append("| JPEG, gray (PSNR dB) | " + " | ".join(f"{jpeg[q]['jpeg_psnr']:.2f}" for q in QUALITIES) + blanks)
    for name, gains in PUBLISHED_GRAY_GAINS.items():
        lines.append(f"| {name}, gray | " + " | ".join(f"+{g:.2f}" for g in gains) + blanks)
    by_size = {r["size"]: r for r in speed or []}
    mps = f"{by_size['1MP']['megapixels_per_s']:.2f}" if "1MP" in by_size else ""
    peak = f"{by_size['12MP']['peak_rss_gib']:.2f}" if "12MP" in by_size else ""
    for track in ("gray", "color"):
        rows = {r["quality"]: r for r in tracks[track]["rows"]}
        gains = " | ".join(f"{rows[q]['psnr_gain']:+.2f}" for q in (*QUALITIES, *extra))
        lines.append(f"| **{model_name}**, {track} | {gains} | {mps} | {peak} |")
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
    parser.add_argument("--no-speed", action="store_true", help="skip the end-to-end speed/memory measurement")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="as dejpeg restore's")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data} not found (BSDS500 test200 from ../shared/data)")
    tracks = run(args.model, args.data, args.max_images, args.extra_quality or None, args.precision)
    name = tracks["gray"]["model"]
    speed = None if args.no_speed else measure(args.model, ["1MP", "12MP"], precision=args.precision)
    print(format_table(tracks, name, speed))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        record = {
            "model": name,
            "threads": torch.get_num_threads(),
            "precision": args.precision,
            "tracks": tracks,
            "speed": speed,
            "published_gray_gains": PUBLISHED_GRAY_GAINS,
        }
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

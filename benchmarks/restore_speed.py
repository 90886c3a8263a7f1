"""End-to-end restoration speed and memory: JPEG file -> decode -> model -> PNG written.

Prints a table and writes JSON. Each size runs in a fresh subprocess so that its peak resident
memory (``ru_maxrss``) is its own.

    python benchmarks/restore_speed.py --model dejpeg_net_dct_w160.blind_bsds300 --json benchmarks/results/speed.json

``--precision auto`` (the default, as in ``dejpeg restore``) runs bf16 on CPUs with native bf16.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dejpeg.models import PRECISIONS, resolve_precision

SIZES = {"1MP": (864, 1152), "12MP": (3000, 4000)}


def _measure(model: str | None, height: int, width: int, quality: int, repeats: int, precision: str) -> dict:
    """Runs inside the child process."""
    import resource

    import numpy as np
    import torch

    from dejpeg.api import load_model, restore
    from dejpeg.codec import encode
    from dejpeg.codec.images import PNG_COMPRESS_LEVEL, save_image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (
        128 + 60 * np.sin(xx / 37.0)[..., None] * np.cos(yy / 23.0)[..., None] + rng.normal(0, 12, (height, width, 3))
    )
    image = np.clip(base, 0, 255).astype(np.uint8)
    net = load_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.jpg", Path(tmp) / "out.png"
        src.write_bytes(encode(image, quality=quality))
        save_image(restore(src, net, precision=precision), dst)  # warm-up
        runs = []  # (total, PNG write) seconds per repeat
        for _ in range(repeats):
            start = time.perf_counter()
            restored = restore(src, net, precision=precision)
            written = time.perf_counter()
            save_image(restored, dst)
            runs.append((time.perf_counter() - start, time.perf_counter() - written))
    seconds, write_seconds = min(runs)
    megapixels = height * width / 1e6
    return {
        "height": height,
        "width": width,
        "seconds": seconds,
        "png_write_seconds": write_seconds,
        "png_compress_level": PNG_COMPRESS_LEVEL,
        "megapixels_per_s": megapixels / seconds,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "threads": torch.get_num_threads(),
        "precision": resolve_precision(net, "cpu", precision),  # what ran: "auto" resolved for this CPU
    }


def measure(
    model: str | None, sizes: list[str], quality: int = 20, repeats: int = 3, precision: str = "auto"
) -> list[dict]:
    """One row per size, each measured in a fresh subprocess (its own peak memory)."""
    rows = []
    for name in sizes:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            *map(str, SIZES[name]),
            "--quality",
            str(quality),
            "--repeats",
            str(repeats),
            "--precision",
            precision,
        ] + (["--model", model] if model else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append({"size": name, **json.loads(out.strip().splitlines()[-1])})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--quality", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.model, *args.child, args.quality, args.repeats, args.precision)))
        return 0
    rows = measure(args.model, args.sizes, args.quality, args.repeats, args.precision)
    print(
        f"{'size':>5} | {'pixels':>11} | {'seconds':>7} | {'of which PNG':>12} | {'MP/s':>5} | {'peak RSS GiB':>12} | "
        "threads | precision"
    )
    for r in rows:
        print(
            f"{r['size']:>5} | {r['width']}x{r['height']:<6} | {r['seconds']:>7.2f} | "
            f"{r['png_write_seconds']:>12.2f} | "
            f"{r['megapixels_per_s']:>5.2f} | {r['peak_rss_gib']:>12.2f} | {r['threads']:>7} | {r['precision']}"
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"model": args.model, "quality": args.quality, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

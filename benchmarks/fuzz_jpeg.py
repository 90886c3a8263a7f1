"""Long fuzz run: thousands of mutated JPEGs through ``dejpeg info``, ``dejpeg restore`` and ``dejpeg.restore``,
each in a supervised worker (time and memory limits, its own TMPDIR); prints the counts per outcome and per
mutation kind, the failed files, and writes every file's outcome as JSON. The generator and runner are
``tests/fuzzing.py`` (the suite runs a few hundred files through the same code).

    python benchmarks/fuzz_jpeg.py --files 10000 --seed 0 --json benchmarks/results/fuzz.json

Failed files are kept in ``--keep`` (default: a fresh temporary folder) to become regression files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzzing import FAILURES, MEMORY_LIMIT, SECONDS_PER_MEGAPIXEL, generate, run_cases, table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per file")
    parser.add_argument(
        "--memory-gib",
        type=float,
        default=MEMORY_LIMIT / 2**30,
        help="address space a worker may add to what torch and dejpeg map",
    )
    parser.add_argument("--json", type=Path, default=None, help="write every file's outcome here")
    parser.add_argument("--keep", type=Path, default=None, help="copy failed files here")
    args = parser.parse_args()
    start = time.perf_counter()
    cases = generate(args.files, args.seed)
    with tempfile.TemporaryDirectory(prefix="dejpeg-fuzz-") as tmp:
        results = run_cases(cases, Path(tmp), args.jobs, args.timeout, memory=int(args.memory_gib * 2**30))
        failed = [r for r in results if r["outcome"] in FAILURES]
        keep = args.keep or Path(tempfile.mkdtemp(prefix="dejpeg-fuzz-failed-"))
        for result in failed:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(next(Path(tmp).glob(f"w*/{result['file']}")), keep / result["file"])
    seconds = time.perf_counter() - start
    print(table(results))
    limits = (
        f"{args.timeout:.0f} s per file (+{SECONDS_PER_MEGAPIXEL:.0f} s per declared Mpx), {args.memory_gib:.1f} GiB"
    )
    print(f"seed {args.seed}, {args.jobs} workers, {limits}, {seconds:.0f} s")
    peaks = [r["peak_rss_mib"] for r in results if "peak_rss_mib" in r]
    if peaks:  # a worker's peak so far, after each file: the largest bounds every file's peak
        print(f"peak resident memory of a worker: {max(peaks):.0f} MiB")
    for result in failed:
        print(f"{result['outcome']}: {result['file']}: {json.dumps(result['steps'])[:500]}")
    if failed:
        print(f"failed files kept in {keep}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        peak = max((r["peak_rss_mib"] for r in results if "peak_rss_mib" in r), default=None)
        summary = {"files": args.files, "seed": args.seed, "seconds": seconds, "peak_rss_mib": peak, "results": results}
        args.json.write_text(json.dumps(summary, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput and peak memory of ``dejpeg restore --ray`` on a local cluster of 1 and 2 one-CPU worker nodes (the
head node has no CPU: only the driver runs there), beside single-process runs, all fp32, on BSDS500 test images
compressed at Q20. Prints a table and writes JSON.

    PYTHONPATH=src python benchmarks/ray_throughput.py --images 20 --json benchmarks/results/ray_throughput.json

"MP/s run" divides the megapixels by the command's wall time (Python, torch and Ray start-up, actors loading the
model); "MP/s restoring" divides those restored after every model finished its first file by the time from then to
the last manifest row (Ray runs hand out one file at a time, so that rows come file by file). Peak memory is
each process's high-water resident set (``VmHWM``): the driver, the largest actor, and the most that the driver and
every process of the cluster held at once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ray_cluster import ENV, local_cluster, pids_below  # noqa: E402

from dejpeg.batch import MANIFEST_NAME  # noqa: E402
from dejpeg.codec import decode, encode  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "val" / "bsds500-test200"
MIB = 2**20


def _status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` field in KiB (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _is_actor(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::RestoreActor")
    except OSError:
        return False


class Memory(threading.Thread):
    """Samples the resident memory of the process trees below ``roots`` every 0.1 s while a run goes on."""

    def __init__(self, roots: list[int]) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.peaks: dict[int, int] = {}  # pid -> VmHWM (KiB)
        self.actors: set[int] = set()
        self.total_peak = 0  # KiB, the most held at once
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = set().union(*(pids_below(root) for root in self.roots))
            self.total_peak = max(self.total_peak, sum(_status_kib(pid, "VmRSS") for pid in pids))
            for pid in pids:
                self.peaks[pid] = max(self.peaks.get(pid, 0), _status_kib(pid, "VmHWM"))
                if _is_actor(pid):
                    self.actors.add(pid)
            time.sleep(0.1)


def _run(
    command: list[str], env: dict[str, str], out: Path, roots: list[int], pixels: dict[str, int], models: int
) -> dict:
    """Run one restore (whose ``models`` processes hold the model); its times and peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    memory = Memory([process.pid, *roots])
    memory.start()
    manifest, seen, before, first, last = out / MANIFEST_NAME, 0, 0, 0.0, 0.0
    while process.poll() is None:
        rows = manifest.read_text().count("\n") if manifest.exists() else 0
        if rows != seen:
            if not before and rows >= models:  # the clock starts once every model has finished a file
                before, first = rows, time.perf_counter()
            last, seen = time.perf_counter(), rows
        time.sleep(0.05)
    wall = time.perf_counter() - started
    memory.done.set()
    memory.join()
    err = process.stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err}")
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    if seen != len(rows):  # the last rows came after the last poll
        last = time.perf_counter()
    timed = sum(row["pixels"] for row in rows[before:]) / 1e6
    return {
        "seconds": wall,
        "megapixels_per_s_run": sum(pixels.values()) / 1e6 / wall,
        "megapixels_per_s_restoring": timed / (last - first) if last > first else None,
        "driver_peak_mib": memory.peaks.get(process.pid, 0) / 1024,
        "actor_peak_mib": max((memory.peaks[pid] for pid in memory.actors), default=0) / 1024,
        "total_peak_mib": memory.total_peak / 1024,
        "stderr_tail": err.strip().splitlines()[-3:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--quality", type=int, default=20)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sources = sorted(args.data.glob("*.jpg"))[: args.images]
    if len(sources) < args.images:
        raise SystemExit(f"{args.data}: fewer than {args.images} JPEGs")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        pixels = {}
        for source in sources:
            image = decode(str(source))
            (folder / source.name).write_bytes(encode(image, quality=args.quality))
            pixels[source.stem + ".png"] = image.shape[0] * image.shape[1]
        restore = [sys.executable, "-m", "dejpeg", "restore", str(folder), "--quiet", "--precision", "fp32"]
        runs = [("one process, 1 thread", 0, {"OMP_NUM_THREADS": "1"}), ("one process, all cores", 0, {})]
        runs += [(f"Ray, {workers} worker node(s) of 1 CPU", workers, {}) for workers in (1, 2)]
        outputs = {}
        for name, workers, extra in runs:
            out = Path(tmp) / f"out{len(results)}"
            env = {**ENV, **extra}
            if workers:
                with local_cluster(head_cpus=0, workers=workers) as cluster:
                    command = [
                        *restore,
                        "-o",
                        str(out),
                        "--ray",
                        cluster.address,
                        "--ray-cpus",
                        "1",
                        "--ray-chunk",
                        "1",
                    ]
                    result = _run(command, env, out, [node.pid for node in cluster.nodes], pixels, workers)
            else:
                result = _run([*restore, "-o", str(out)], env, out, [], pixels, 1)
            outputs[name] = {path.name: path.read_bytes() for path in out.glob("*.png")}
            first = outputs[runs[0][0]]
            result["files_differing_from_one_thread"] = sum(first[n] != data for n, data in outputs[name].items())
            results.append({"run": name, "workers": workers, **result})
            print(f"{name}: {result['seconds']:.1f} s", file=sys.stderr)
    header = f"{'run':<36} {'MP/s run':>9} {'MP/s restoring':>15} {'driver MiB':>11} {'actor MiB':>10}"
    print(f"{header} {'all MiB':>8} {'files != 1 thread':>18}")
    for row in results:
        print(
            f"{row['run']:<36} {row['megapixels_per_s_run']:>9.3f} {row['megapixels_per_s_restoring'] or 0:>15.3f} "
            f"{row['driver_peak_mib']:>11.0f} {row['actor_peak_mib']:>10.0f} {row['total_peak_mib']:>8.0f} "
            f"{row['files_differing_from_one_thread']:>18}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "images": len(sources),
            "megapixels": sum(pixels.values()) / 1e6,
            "quality": args.quality,
            "cpus": os.cpu_count(),
            "load_average_1min_at_end": os.getloadavg()[0],  # other work on the machine skews the comparison
            "rows": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

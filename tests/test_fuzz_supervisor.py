"""The fuzz supervisor itself: a file that hangs, kills its worker, or exhausts memory is reported as such, and the
files after it still run (in a fresh worker). A stand-in worker misbehaves on purpose, by file name."""

from __future__ import annotations

from pathlib import Path

from fuzzing import Case, run_cases

MISBEHAVING_WORKER = """
import json, os, sys, time
for name in sys.argv[2:]:
    print("start " + name, flush=True)
    if name.startswith("hang"):
        time.sleep(600)
    if name.startswith("crash"):
        os.abort()
    if name.startswith("memory"):
        raise MemoryError("cannot allocate")
    if name.startswith("noisy"):  # more than a pipe holds: the supervisor must not block the worker on it
        sys.stderr.write("libjpeg says something. " * 20000)
        sys.stderr.flush()
    print(json.dumps({"file": name, "steps": {"api": "restored"}}), flush=True)
"""


def test_supervisor_reports_hangs_crashes_and_memory_and_goes_on(tmp_path: Path):
    names = ["ok1.jpg", "hang.jpg", "ok2.jpg", "crash.jpg", "noisy.jpg", "ok3.jpg", "memory.jpg", "ok4.jpg"]
    cases = [Case(name, "stand-in", "none", b"\xff\xd8\xff\xd9") for name in names]
    results = run_cases(cases, tmp_path, jobs=1, per_file=2.0, startup=10.0, worker_code=MISBEHAVING_WORKER)
    outcomes = {r["file"]: r["outcome"] for r in results}
    assert outcomes == {
        "ok1.jpg": "restored",
        "hang.jpg": "hang",
        "ok2.jpg": "restored",
        "crash.jpg": "crash",
        "noisy.jpg": "restored",
        "ok3.jpg": "restored",
        "memory.jpg": "memory",
        "ok4.jpg": "restored",
    }

"""``dejpeg restore`` over a folder survives interruption: SIGINT or SIGKILL mid-run, then the same command again,
restores every file exactly once, and the manifest accounts for each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dejpeg
from dejpeg.batch import DONE, MANIFEST_NAME
from dejpeg.codec import encode
from dejpeg.files import TEMPORARY_NAME


def _tiny_folder(folder: Path, files: int, natural_image) -> Path:
    folder.mkdir()
    for i in range(files):
        (folder / f"f{i:03d}.jpg").write_bytes(encode(natural_image(16, 16, seed=i), quality=30))
    return folder


def _restore(folder: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(dejpeg.__file__).parents[1])}
    command = [sys.executable, "-m", "dejpeg", "restore", str(folder), "-o", str(out), "--quiet"]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


def _rows(out: Path) -> list[dict]:
    path = out / MANIFEST_NAME
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut by SIGKILL
            pass
    return rows


def _wait_for_rows(out: Path, proc: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(_rows(out)) < count:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)


def _stop_then_resume(
    folder: Path, files: int, out: Path, stop: signal.Signals
) -> tuple[list[dict], list[dict], dict[str, int]]:
    """Stop a run with ``stop`` after 40 files, check what it left, re-run to the end; returns both runs' rows and
    the output mtimes after the first run."""
    proc = _restore(folder, out)
    _wait_for_rows(out, proc, 40)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if stop == signal.SIGINT else -signal.SIGKILL), err
    first = _rows(out)
    assert 40 <= len(first) < files, "the run was not interrupted"
    outputs = sorted(out.glob("*.png"))
    for output in outputs:  # whatever the signal, every output is complete
        assert np.asarray(Image.open(output)).shape == (16, 16, 3)
    restored = {row["output"] for row in first if row["status"] == "restored"}
    assert {p.name for p in outputs} <= restored  # no output the manifest does not know
    if stop == signal.SIGINT:  # the file in hand was finished, its row written, nothing left half done
        assert {p.name for p in outputs} == restored and "stopped by SIGINT" in err
        assert not [p for p in out.iterdir() if TEMPORARY_NAME.fullmatch(p.name)]
    mtimes = {p.name: p.stat().st_mtime_ns for p in outputs}
    proc = _restore(folder, out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return first, _rows(out)[len(first) :], mtimes


@pytest.mark.parametrize(("stop", "files"), [(signal.SIGINT, 500), (signal.SIGKILL, 150)], ids=["SIGINT", "SIGKILL"])
def test_interrupted_folder_restore_resumes_losing_and_redoing_nothing(tmp_path, natural_image, stop, files):
    tiny_folder = _tiny_folder(tmp_path / "in", files, natural_image)
    out = tmp_path / "out"
    first, second, mtimes = _stop_then_resume(tiny_folder, files, out, stop)
    assert not [p for p in out.iterdir() if TEMPORARY_NAME.fullmatch(p.name)]  # SIGKILL's leftovers cleaned up
    inputs = {str(p.resolve()) for p in tiny_folder.iterdir()}
    assert Counter(row["input"] for row in second) == Counter(inputs)  # the re-run accounts for every file once
    skipped = [row for row in second if row["status"] == "skipped"]
    assert {row["output"] for row in skipped} == set(mtimes)  # what the first run finished is not redone,
    assert all(row["reason"] == DONE for row in skipped)
    redone = Counter(row["output"] for row in second if row["status"] == "restored")
    assert redone + Counter(mtimes.keys()) == Counter(f"f{i:03d}.png" for i in range(files))  # and the rest done once
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png") if p.name in mtimes} == mtimes  # not rewritten
    assert len(list(out.glob("*.png"))) == files

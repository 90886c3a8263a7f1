"""The batch behind ``dejpeg restore``: outputs as restore_file writes them, resume and overwrite rules, stale
temporaries, and the streamed walk."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from dejpeg.api import load_model, restore_file
from dejpeg.batch import DONE, EXISTS, FAILED_BEFORE, MANIFEST_NAME, Batch, RestoreOptions
from dejpeg.cli.__main__ import main
from dejpeg.cli._inputs import InputStream
from dejpeg.codec import encode


@pytest.fixture
def folder(tmp_path, natural_image) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        (folder / f"p{i}.jpg").write_bytes(encode(natural_image(24, 32, channels=1 if i == 2 else 3, seed=i), 20))
    return folder


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]


def _restore(folder: Path, out: Path, *options: str) -> int:
    return main(["restore", str(folder), "-o", str(out), "--quiet", *options])


def test_outputs_are_those_of_restore_file(folder, tmp_path):
    out = tmp_path / "out"
    pairs = [(f, out / f.with_suffix(".png").name) for f in sorted(folder.iterdir())]
    summary = Batch(load_model(), RestoreOptions(), out, workers=3).run(pairs)
    assert (summary.restored, summary.exit_code) == (6, 0)
    for source, target in pairs:
        restore_file(source, tmp_path / "one.png")
        assert target.read_bytes() == (tmp_path / "one.png").read_bytes()


def test_rerun_skips_finished_files_and_redoes_changed_inputs(folder, tmp_path, natural_image, capsys):
    out = tmp_path / "out"
    assert _restore(folder, out) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    (folder / "p1.jpg").write_bytes(encode(natural_image(24, 32, seed=9), 30))  # changed since its restore
    (out / "p3.png").write_bytes(b"not what the manifest recorded")  # an output someone replaced
    assert _restore(folder, out) == 0
    second = {row["output"]: row for row in _rows(out)[6:]}
    assert second["p1.png"]["status"] == "restored"
    assert (second["p3.png"]["status"], second["p3.png"]["reason"]) == ("skipped", EXISTS)
    assert (out / "p3.png").read_bytes() == b"not what the manifest recorded"
    assert all(second[f"p{i}.png"]["reason"] == DONE for i in (0, 2, 4, 5))
    assert all(before[f"p{i}.png"] == (out / f"p{i}.png").stat().st_mtime_ns for i in (0, 2, 4, 5))
    err = capsys.readouterr().err
    assert "restored 1 of 6 image(s), 1 skipped: exists (use --overwrite), 4 skipped: restored before" in err
    assert _restore(folder, out, "--overwrite") == 0
    third = {row["output"]: row["status"] for row in _rows(out)[12:]}
    assert third["p3.png"] == "restored" and (out / "p3.png").read_bytes().startswith(b"\x89PNG")


def test_existing_outputs_are_kept_without_overwrite(folder, tmp_path):
    out = tmp_path / "one.png"
    out.write_bytes(b"mine")
    # Its mtime as new as the run's own writes (a coarse file-system clock makes a file written just before a run
    # look so): still someone else's file, not one "another input of this run wrote".
    os.utime(out, ns=(time.time_ns() + 3_600 * 10**9,) * 2)
    assert main(["restore", str(folder / "p0.jpg"), "-o", str(out), "--quiet"]) == 0
    assert out.read_bytes() == b"mine" and not (tmp_path / MANIFEST_NAME).exists()
    assert main(["restore", str(folder / "p0.jpg"), "-o", str(out), "--quiet", "--overwrite"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_failed_inputs_are_retried_only_on_request(folder, tmp_path):
    out = tmp_path / "out"
    (folder / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert _restore(folder, out) == 1
    assert _restore(folder, out) == 0
    assert [row["reason"] for row in _rows(out)[7:] if row["output"] == "bad.png"] == [FAILED_BEFORE]
    assert _restore(folder, out, "--retry-failed") == 1
    (retried,) = [row for row in _rows(out)[14:] if row["output"] == "bad.png"]
    assert retried["status"] == "failed" and "not a readable JPEG" in retried["error"]


def test_stale_temporaries_are_removed_at_start(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".p0.png.ab_cd123.tmp", out / ".other.webp.zzzzzzzz.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    kept = [out / ".notes.txt.abcdefgh.tmp", out / "p0.png.abcdefgh.tmp"]  # not what an atomic write makes
    for path in kept:
        path.write_bytes(b"")
    assert _restore(folder, out) == 0
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)


def test_two_inputs_onto_one_output_fail_the_second(folder, tmp_path, capsys):
    (folder / "p0.jpeg").write_bytes((folder / "p1.jpg").read_bytes())  # both would be p0.png
    out = tmp_path / "out"
    assert _restore(folder, out) == 1
    failed = [row for row in _rows(out) if row["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["input"] in {os.path.abspath(folder / n) for n in ("p0.jpg", "p0.jpeg")}
    assert "another input of this run wrote" in failed[0]["error"]


def test_input_stream_walks_sorted_and_counts_what_it_skips(folder, tmp_path):
    (folder / "notes.txt").write_text("")
    (folder / "b").mkdir()
    (folder / "b" / "deep.JPG").write_bytes(b"")
    (folder / "a").mkdir()
    stream = InputStream([str(folder)], {".jpg", ".jpeg"}, recursive=True)
    relative = [str(rel) for _, rel in stream]
    assert relative == ["b/deep.JPG", *(f"p{i}.jpg" for i in range(6))]
    assert (stream.skipped_files, stream.skipped_folders) == (1, 0)
    flat = InputStream([str(folder)], {".jpg"})
    assert (
        len(list(flat)) == 6
        and flat.skipped_note("JPEG") == "skipped 1 non-JPEG file(s) and 2 subfolder(s) (--recursive reads them)"
    )
    with pytest.raises(ValueError, match="no input images found"):
        InputStream([str(folder / "a")], {".jpg"})

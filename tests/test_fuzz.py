"""Fuzzing: a few hundred mutated JPEGs (and every file in tests/regressions/) through ``dejpeg info``,
``dejpeg restore`` and ``dejpeg.restore``, each restored close to Pillow's decode or refused in one line naming
the file; no crash, hang, memory blow-up, traceback or leftover file (tests/fuzzing.py). About 30 s on 2 cores;
``benchmarks/fuzz_jpeg.py`` runs thousands.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from fuzzing import (
    FAILURES,
    REFUSED,
    SEED_NAMES,
    Case,
    _judge_image,
    generate,
    run_cases,
    seed_files,
    seed_originals,
    table,
)
from PIL import Image

from dejpeg.api import restore
from dejpeg.cli.__main__ import main

REGRESSIONS = Path(__file__).parent / "regressions"


def _regressions() -> list[Case]:
    return [Case(path.name, "regression", path.stem, path.read_bytes()) for path in sorted(REGRESSIONS.glob("*.jpg"))]


def test_fuzzed_files_are_restored_or_refused(tmp_path: Path) -> None:
    cases = generate(300, seed=0) + _regressions()
    results = run_cases(cases, tmp_path / "fuzz", jobs=2)
    print("\n" + table(results))
    failed = [f"{r['file']}: {r['steps']}" for r in results if r["outcome"] in FAILURES]
    assert not failed, "\n".join(failed)
    assert {r["outcome"] for r in results if r["kind"] == "valid"} == {"restored"}  # MPO included
    assert not [p for p in (tmp_path / "fuzz").rglob("*.png")]


def test_generator_is_seeded() -> None:
    first, again, other = generate(40, seed=3), generate(40, seed=3), generate(40, seed=4)
    assert [c.data for c in first] == [c.data for c in again]
    assert [c.data for c in first] != [c.data for c in other]


def test_out_of_range_coefficients_skip_the_consistency_step() -> None:
    """A flipped bit made a Cr DC of 2520 (no 8-bit image has one): projecting onto it turned the red channel to
    garbage (13 dB from the decode); now the step is skipped with a warning."""
    path = REGRESSIONS / "dc-out-of-range.jpg"
    with pytest.warns(UserWarning, match="coefficients out of the range of 8-bit images"):
        restored = restore(path, precision="fp32")
    decoded = np.asarray(Image.open(path).convert("RGB")).astype(np.float64)
    assert 10 * np.log10(255**2 / np.mean((restored - decoded) ** 2)) > 30


@pytest.mark.parametrize(
    "name,message",
    [
        ("info-empty-frame.jpg", "JPEG frame declares an empty image"),  # was Pillow's "<_io.BytesIO object at 0x..>"
        ("mpo-zero-step.jpg", "quantization table 1 has a zero step"),  # was "not a JPEG file (format MPO)"
    ],
)
def test_info_refuses_in_one_line_naming_the_file(name: str, message: str, capsys) -> None:
    path = REGRESSIONS / name
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(f"dejpeg info: error: {re.escape(str(path))}: {message}[^\n]*\n", err), err


def test_app_segment_after_stray_bytes_reads() -> None:
    """jpeglib died of SIGBUS on this MPO (APP0 length 2, then the MPF APP2); its coefficients now read."""
    from dejpeg.codec import read_coefficients

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow: corrupt EXIF
        assert read_coefficients(REGRESSIONS / "app-after-stray-bytes.jpg").components[0].shape == (5, 7, 8, 8)


def test_refusals_are_counted_as_refusals() -> None:
    assert REFUSED not in FAILURES


def test_garbage_is_far_from_the_decode_and_no_closer_to_the_coded_image() -> None:
    original = np.full((16, 16), 100, np.uint8)
    decode = original.copy()
    decode[:, :8] = 200  # a mutated table made the decode far from what was coded
    assert _judge_image(original, decode, original) is None  # undoing the damage is a restoration
    assert _judge_image(decode, decode, original) is None
    assert "coded image" in _judge_image(np.full_like(original, 255), decode, original)
    assert "Pillow's decode" in _judge_image(np.full_like(original, 255), decode, None)


def test_every_seed_has_its_coded_image() -> None:
    assert set(seed_files()) == set(SEED_NAMES) == set(seed_originals())

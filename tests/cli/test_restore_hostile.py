"""``dejpeg restore`` on hostile files: each is reported as a failure (exit 1) naming it, in one line."""

from __future__ import annotations

from hostile_files import truncated_scan, with_size, zero_step

from dejpeg.cli.__main__ import main
from dejpeg.codec import encode


def test_hostile_files_fail_with_one_line_each(tmp_path, natural_image, capsys) -> None:
    good = encode(natural_image(40, 48), quality=20)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(good)
    (folder / "zero.jpg").write_bytes(zero_step(good))
    (folder / "bomb.jpg").write_bytes(with_size(good, 9000, 9000))
    (folder / "stray.jpg").write_bytes(good[:2] + b"\x00" + good[2:])
    out = tmp_path / "out"
    assert main(["restore", str(folder), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 3, err
    assert all(line.count(str(folder)) == 1 for line in failed), err  # named once, not twice
    assert f"{folder / 'zero.jpg'}: quantization table 0 has a zero step" in err
    assert "pixels per byte" in err and "bomb.jpg" in err
    assert "stray.jpg: not a readable JPEG file" in err
    assert "<" not in err
    assert sorted(p.name for p in out.iterdir()) == ["dejpeg-manifest.jsonl", "good.png"]


def test_max_pixels_option(tmp_path, natural_image, capsys) -> None:
    src = tmp_path / "in.jpg"
    src.write_bytes(encode(natural_image(40, 48), quality=20))
    out = tmp_path / "out.png"
    assert main(["restore", str(src), "-o", str(out), "--quiet", "--max-pixels", "1919"]) == 1
    assert "over the limit of 1919" in capsys.readouterr().err and not out.exists()
    assert main(["restore", str(src), "-o", str(out), "--quiet", "--max-pixels", "0"]) == 0
    assert out.exists()


def test_strict_option(tmp_path, natural_image, capsys) -> None:
    src = tmp_path / "cut.jpg"
    src.write_bytes(truncated_scan(encode(natural_image(40, 48), quality=20)))
    out = tmp_path / "out.png"
    assert main(["restore", str(src), "-o", str(out), "--quiet", "--strict"]) == 1
    assert "refused (strict): Corrupt JPEG data" in capsys.readouterr().err and not out.exists()

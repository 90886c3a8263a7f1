import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dejpeg.cli.__main__ import main
from dejpeg.jpeg import decode, encode, estimate_quality, read_qtables
from dejpeg.models import create_model, default_model_name, resolve_precision


@pytest.fixture
def jpeg_folder(tmp_path, natural_image) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(encode(natural_image(40, 48, seed=i), quality=20))
    (folder / "gray.jpg").write_bytes(encode(natural_image(40, 48, channels=1), quality=20))
    return folder


def test_restore_single_file(jpeg_folder, tmp_path):
    out = tmp_path / "one.png"
    assert main(["restore", str(jpeg_folder / "p0.jpg"), "-o", str(out), "--quiet"]) == 0
    assert np.asarray(Image.open(out)).shape == (40, 48, 3)


def test_restore_png_level_changes_size_not_pixels(jpeg_folder, tmp_path):
    outs = {level: tmp_path / f"l{level}.png" for level in (0, 9)}
    for level, out in outs.items():
        assert main(["restore", str(jpeg_folder / "p0.jpg"), "-o", str(out), "--png-level", str(level), "--quiet"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(outs[0])), np.asarray(Image.open(outs[9])))
    assert outs[9].stat().st_size < outs[0].stat().st_size


def test_restore_directory_gray_stays_gray(jpeg_folder, tmp_path):
    out = tmp_path / "out"
    assert main(["restore", str(jpeg_folder), "-o", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["gray.png", "p0.png", "p1.png", "p2.png"]
    assert Image.open(out / "gray.png").mode == "L"
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_restore_bad_file_is_reported_and_batch_continues(jpeg_folder, tmp_path, capsys):
    (jpeg_folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    assert main(["restore", str(jpeg_folder), "-o", str(out), "--quiet"]) == 1
    assert "broken.jpg" in capsys.readouterr().err
    assert len(list(out.glob("*.png"))) == 4 and not (out / "broken.png").exists()


def test_restore_refuses_to_overwrite_input(jpeg_folder):
    src = jpeg_folder / "p0.jpg"
    before = src.read_bytes()
    assert main(["restore", str(src), "-o", str(src), "--quiet"]) == 2
    assert src.read_bytes() == before


def test_restore_missing_input_is_a_clear_error(tmp_path, capsys):
    assert main(["restore", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "o.png")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_compress_quality_and_ratio(tmp_path, natural_image):
    src = tmp_path / "a.png"
    Image.fromarray(natural_image(64, 96)).save(src)
    assert main(["compress", str(src), "-o", str(tmp_path / "q.jpg"), "--quality", "30", "--quiet"]) == 0
    assert estimate_quality(read_qtables(tmp_path / "q.jpg")).quality == 30
    assert main(["compress", str(src), "-o", str(tmp_path / "r.jpg"), "--ratio", "0.1", "--gray", "--quiet"]) == 0
    ratio = (tmp_path / "r.jpg").stat().st_size / (64 * 96)
    assert decode(tmp_path / "r.jpg").ndim == 2 and ratio == pytest.approx(0.1, rel=0.05)


def test_info_json(jpeg_folder, capsys):
    assert main(["info", str(jpeg_folder / "p1.jpg"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["quality"] == 20 and info["quality_exact"]
    assert (info["width"], info["height"]) == (48, 40)
    assert [c["sampling"] for c in info["components"]] == [[2, 2], [1, 1], [1, 1]]


def test_models_json(capsys):
    assert main(["models", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {"name", "default", "params", "has_weights"} <= set(records[0])
    defaults = [r for r in records if r["default"]]
    assert len(defaults) == 1 and defaults[0]["has_weights"] and defaults[0]["params"] > 0


def test_evaluate_prints_table_and_writes_json(image_folder, tmp_path, capsys):
    out = tmp_path / "res.json"
    code = main(
        ["evaluate", str(image_folder), "--quality", "10", "--gray", "--max-images", "2", "--json", str(out), "--quiet"]
    )
    assert code == 0
    assert "PSNR" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["rows"][0]["quality"] == 10
    # What "auto" ran as on this machine is recorded beside what was asked.
    expected = resolve_precision(create_model(default_model_name()), "cpu", "auto")
    assert (result["precision"], result["computed_in"]) == ("auto", expected)


def test_evaluate_draws_psnr_against_quality(image_folder, tmp_path, capsys):
    plot = tmp_path / "gains.png"
    args = ["evaluate", str(image_folder), "--quality", "10", "50", "--max-images", "1", "--plot", str(plot), "--quiet"]
    assert main(args) == 0
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib is not installed" in capsys.readouterr().err and not plot.exists()
    else:
        with Image.open(plot) as image:
            assert image.format == "PNG" and image.width > 200


def test_restore_keeps_exif_orientation_and_icc_profile(tmp_path, natural_image):
    src = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW when displayed
    icc = b"fake-icc-profile-bytes"
    Image.fromarray(natural_image(32, 48)).save(src, quality=30, exif=exif.tobytes(), icc_profile=icc)
    out = tmp_path / "phone.png"
    assert main(["restore", str(src), "-o", str(out), "--quiet"]) == 0
    with Image.open(out) as restored:
        assert restored.getexif()[0x0112] == 6
        assert restored.info.get("icc_profile") == icc


def test_restore_with_a_precision_the_model_lacks_fails_before_writing(jpeg_folder, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["restore", str(jpeg_folder), "-o", str(out), "--model", "unet.cifar10_q1_n2n", "--precision", "int8"]
    assert main([*args, "--quiet"]) == 2
    assert "no int8 layers" in capsys.readouterr().err
    assert not out.exists()

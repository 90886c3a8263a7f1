import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import dejpeg
from dejpeg.cli.__main__ import main
from dejpeg.codec import decode, encode, read_qtables
from dejpeg.jpeg import estimate_quality
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
    assert sorted(p.name for p in out.iterdir()) == ["dejpeg-manifest.jsonl", "gray.png", "p0.png", "p1.png", "p2.png"]
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
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # a made-up one would be dropped
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


def _one_error_line(err: str, command: str) -> str:
    """The error output is exactly one line naming the command."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dejpeg {command}: error: "), err
    return lines[0]


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if the command gets as far as loading a model."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr("dejpeg.cli.restore.load_model", refuse)


def test_restore_single_input_into_existing_directory(jpeg_folder, tmp_path):
    out = tmp_path / "existing"
    out.mkdir()
    assert main(["restore", str(jpeg_folder / "p0.jpg"), "-o", str(out), "--format", "webp", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dejpeg-manifest.jsonl", "p0.webp"]


def test_restore_single_input_into_new_directory_with_slash(jpeg_folder, tmp_path):
    out = tmp_path / "new" / "dir"
    assert main(["restore", str(jpeg_folder / "p1.jpg"), "-o", f"{out}/", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["dejpeg-manifest.jsonl", "p1.png"]


def test_restore_several_inputs_refuse_a_file_name(jpeg_folder, tmp_path, capsys, no_model_load):
    out = tmp_path / "two.png"
    assert main(["restore", str(jpeg_folder / "p0.jpg"), str(jpeg_folder / "p1.jpg"), "-o", str(out)]) == 2
    assert "directory" in _one_error_line(capsys.readouterr().err, "restore")
    assert not out.exists()


@pytest.mark.parametrize(
    ("output", "options", "message"),
    [
        ("out.gif", [], "unsupported output format '.gif'"),
        ("out.jpg", ["--bit-depth", "16"], "JPEG cannot hold 16-bit samples"),
        ("out.png", ["--quality", "90"], "PNG is lossless"),
    ],
)
def test_restore_refuses_an_output_format_or_option_up_front(
    jpeg_folder, tmp_path, capsys, no_model_load, output, options, message
):
    assert main(["restore", str(jpeg_folder / "p0.jpg"), "-o", str(tmp_path / output), *options]) == 2
    assert message in _one_error_line(capsys.readouterr().err, "restore")


@pytest.mark.parametrize("bad", [["--quality", "0"], ["--quality", "101"], ["--ratio", "0"], ["--ratio", "1.5"]])
def test_compress_bad_range_stops_before_creating_anything(image_folder, tmp_path, capsys, bad):
    out = tmp_path / "bad"
    assert main(["compress", str(image_folder), "-o", f"{out}/", *bad]) == 2
    _one_error_line(capsys.readouterr().err, "compress")
    assert not out.exists()


def test_unavailable_cuda_device_is_a_one_line_error(jpeg_folder, tmp_path, capsys, monkeypatch, no_model_load):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["restore", str(jpeg_folder / "p0.jpg"), "-o", str(tmp_path / "o.png"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in _one_error_line(capsys.readouterr().err, "restore")


def test_warnings_print_as_one_line(jpeg_folder, tmp_path, capsys, monkeypatch):
    def warn_and_fail(args):
        warnings.warn("something to know", stacklevel=1)
        return 0

    monkeypatch.setattr("dejpeg.cli.info.run", warn_and_fail)
    assert main(["info", str(jpeg_folder / "p0.jpg")]) == 0
    assert capsys.readouterr().err == "dejpeg: warning: something to know\n"


def _run_module(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(dejpeg.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "dejpeg", *args], capture_output=True, text=True, env=env)


def test_version_and_python_dash_m(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dejpeg {importlib.metadata.version('dejpeg')}"
    run = _run_module("--version")
    assert run.returncode == 0 and run.stdout.startswith("dejpeg ")


def test_closed_pipe_ends_quietly():
    env = {**os.environ, "PYTHONPATH": str(Path(dejpeg.__file__).parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dejpeg", "models", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    proc.stdout.close()  # the reader is gone before anything is written: as `dejpeg models --json | head -0`
    err = proc.stderr.read().decode()
    proc.wait()
    assert proc.returncode == 1 and "Traceback" not in err and err == ""


@pytest.mark.parametrize("command", ["restore", "compress", "evaluate", "info", "train"])
def test_help_texts_describe_every_option(command, capsys):
    assert main([command, "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    if command in ("restore", "evaluate"):
        assert "skip the DCT consistency step, so" in help_text and "torch device" in help_text
    if command == "evaluate":
        assert "default: 10 20 30 40" in help_text and "first N images" in help_text
    if command == "train":
        example = help_text.split("e.g. ")[1].split()[0]
        assert (Path(__file__).parents[2] / example).is_file()


def _cmyk_jpeg(path: Path, adobe_ycck: bool) -> Path:
    """A CMYK JPEG from Pillow (Adobe transform 0), or the same file marked YCCK (transform 2) as Photoshop writes."""
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 4), dtype=np.uint8)
    Image.fromarray(pixels, "CMYK").save(path, quality=20)
    if adobe_ycck:
        data = path.read_bytes()
        adobe = data.index(b"Adobe") + 11  # "Adobe", version (2), flags0 (2), flags1 (2), then the transform byte
        path.write_bytes(data[:adobe] + b"\x02" + data[adobe + 1 :])
    return path


def test_info_several_files_and_cmyk(jpeg_folder, tmp_path, capsys):
    cmyk = _cmyk_jpeg(tmp_path / "cmyk.jpg", adobe_ycck=False)
    assert main(["info", str(jpeg_folder / "p0.jpg"), str(jpeg_folder / "gray.jpg"), str(cmyk), "--json"]) == 0
    infos = json.loads(capsys.readouterr().out)
    assert [len(i["components"]) for i in infos] == [3, 1, 4]
    assert [c["name"] for c in infos[2]["components"]] == ["C", "M", "Y", "K"]
    assert infos[2]["quality"] == 20 and (infos[2]["width"], infos[2]["height"]) == (48, 40)
    assert main(["info", str(cmyk)]) == 0
    assert "estimated quality: 20" in capsys.readouterr().out


def test_info_reads_ycck(tmp_path, capsys):
    ycck = _cmyk_jpeg(tmp_path / "ycck.jpg", adobe_ycck=True)
    assert main(["info", str(ycck), "--json"]) == 0
    assert [c["name"] for c in json.loads(capsys.readouterr().out)["components"]] == ["Y", "Cb", "Cr", "K"]


@pytest.mark.parametrize("bad", ["folder", "garbage", "missing"])
def test_info_bad_file_is_a_one_line_error(jpeg_folder, tmp_path, capsys, bad):
    (tmp_path / "garbage").write_bytes(b"\xff\xd8 not really a jpeg")
    assert main(["info", str(jpeg_folder / "p0.jpg"), str(jpeg_folder if bad == "folder" else tmp_path / bad)]) == 2
    captured = capsys.readouterr()
    _one_error_line(captured.err, "info")
    assert captured.out == ""


@pytest.fixture
def nested_folder(jpeg_folder, natural_image) -> Path:
    """``jpeg_folder`` plus a PNG, a text file and a subfolder holding one more JPEG."""
    Image.fromarray(natural_image(16, 16)).save(jpeg_folder / "lossless.png")
    (jpeg_folder / "notes.txt").write_text("not an image")
    (jpeg_folder / "sub").mkdir()
    (jpeg_folder / "sub" / "deep.jpg").write_bytes(encode(natural_image(24, 32, seed=5), quality=30))
    return jpeg_folder


def test_restore_reports_skipped_files_and_subfolders(nested_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["restore", str(nested_folder), "-o", str(out), "--quiet"]) == 0
    assert "skipped 2 non-JPEG file(s) and 1 subfolder(s) (--recursive reads them)" in capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*.png")) == ["gray.png", "p0.png", "p1.png", "p2.png"]


def test_restore_recursive_mirrors_the_tree(nested_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["restore", str(nested_folder), "-o", str(out), "--recursive", "--quiet"]) == 0
    assert "skipped 2 non-JPEG file(s)\n" in capsys.readouterr().err
    assert np.asarray(Image.open(out / "sub" / "deep.png")).shape == (24, 32, 3)
    assert len(list(out.glob("*.png"))) == 4


def test_compress_recursive_mirrors_the_tree(nested_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compress", str(nested_folder), "-o", str(out), "--quality", "50", "--recursive", "--quiet"]) == 0
    assert "skipped 1 non-image file(s)\n" in capsys.readouterr().err
    assert (out / "sub" / "deep.jpg").is_file() and (out / "lossless.jpg").is_file()


def test_bf16_without_native_support_warns(jpeg_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("dejpeg.models._base.native_bf16", lambda device: False)
    out = tmp_path / "o.png"
    assert main(["restore", str(jpeg_folder / "p0.jpg"), "-o", str(out), "--precision", "bf16", "--quiet"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dejpeg: warning: ")]
    assert len(warning) == 1 and "no native bf16" in warning[0]


def test_evaluate_on_jpeg_references_warns(jpeg_folder, capsys):
    args = ["evaluate", str(jpeg_folder), "--quality", "50", "--max-images", "1", "--quiet"]
    assert main(args) == 0
    assert "dejpeg: warning: 1 of 1 reference images are JPEGs" in capsys.readouterr().err


def test_models_say_what_each_is_for(capsys):
    assert main(["models", "--json"]) == 0
    uses = {r["name"]: r["use"] for r in json.loads(capsys.readouterr().out)}
    assert all(uses.values())
    assert all("CIFAR-10" in use and "not photos" in use for name, use in uses.items() if "cifar10" in name)
    assert "photos" in uses[default_model_name()]
    assert main(["models"]) == 0
    assert "not photos" in capsys.readouterr().out


@pytest.mark.parametrize("alpha", ["1.5", "-0.1", "nan", "half"])
def test_restore_refuses_an_alpha_outside_0_1_before_loading(jpeg_folder, tmp_path, capsys, no_model_load, alpha):
    out = tmp_path / "out.png"
    assert main(["restore", str(jpeg_folder / "p0.jpg"), "-o", str(out), "--alpha", alpha]) == 2
    assert "--alpha" in capsys.readouterr().err and not out.exists()


def test_restore_refuses_an_alpha_for_a_model_without_gan_weights(jpeg_folder, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["restore", str(jpeg_folder / "p0.jpg"), "-o", str(out), "--alpha", "0.5", "--quiet"]) == 2
    assert "has none" in _one_error_line(capsys.readouterr().err, "restore") and not out.exists()

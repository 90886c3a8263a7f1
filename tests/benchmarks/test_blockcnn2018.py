"""Smoke tests of ``benchmarks/blockcnn2018.py``: each subcommand on one or two tiny images, with tiny random
networks as finished run folders (the codec's predictor, a BlockCNN restorer)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from blockcnn_helpers import TINY, tiny_predictor
from conftest import write_image_folder
from PIL import Image
from safetensors.torch import save_file

from dejpeg.codec import decode, encode
from dejpeg.evaluation import load_reference
from dejpeg.models import create_model

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import each other's helpers by module name
benchmark = importlib.import_module("blockcnn2018")


def finished_run(folder: Path, model: str, net: torch.nn.Module) -> Path:
    """A run folder as ``dejpeg train`` leaves it, as far as loading needs: its config and final weights."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": model, "model_kwargs": TINY}))
    save_file(net.state_dict(), folder / "final.safetensors")
    return folder


def test_rd_measures_every_curve_and_the_bd_rates(tmp_path, capsys):
    data = write_image_folder(tmp_path / "kodak", 2, size=(48, 64))
    predictor = finished_run(tmp_path / "predictor", "blockcnn_predictor", tiny_predictor())
    out = ["--results", str(tmp_path / "results"), "--figures", str(tmp_path / "figures")]
    assert benchmark.main(["rd", "--data", str(data), "--max-images", "1", "--predictor", str(predictor), *out]) == 0
    text = capsys.readouterr().out
    assert "BD-rate on RGB PSNR" in text and "BD-rate on luma PSNR" in text
    record = json.loads((tmp_path / "results" / "blockcnn2018_rd.json").read_text())
    curves = record["curves"]
    assert list(curves) == list(benchmark.CURVES) and record["images"] == 1
    for name, points in curves.items():
        assert [p["quality"] for p in points] == list(benchmark.QUALITIES[name.removesuffix("_postfilter")])
        assert all(p["bpp"] > 0 and 0 < p["ssim"] <= 1 and p["decode_s"] > 0 for p in points)
    jpeg = curves["jpeg"]
    assert [p["bpp"] for p in jpeg] == sorted(p["bpp"] for p in jpeg)
    for base in ("jpeg", "blockcnn"):  # a post-filter decodes the same files: the same rates
        assert [p["bpp"] for p in curves[f"{base}_postfilter"]] == [p["bpp"] for p in curves[base]]
    bd = record["bd_rate_percent"]["psnr"]
    assert set(bd) == {"jpeg", "jpeg_postfilter"} and set(bd["jpeg"]) == set(benchmark.CURVES) - {"jpeg"}
    for cell in bd["jpeg"].values():
        for label in ("0.1-0.5 bpp", "full"):
            for method, value in cell[label].items():  # a value, or None with the reason
                assert value is not None or f"{label}, {method}" in cell["errors"]
    assert (tmp_path / "figures" / "blockcnn2018_rd.png").is_file()


def test_rd_skips_the_codec_without_predictor_weights(tmp_path, capsys):
    data = write_image_folder(tmp_path / "kodak", 1, size=(32, 32))
    out = ["--results", str(tmp_path), "--figures", str(tmp_path)]
    args = ["rd", "--data", str(data), "--curves", "jpeg", "blockcnn", "--predictor", "blockcnn_predictor", *out]
    assert benchmark.main(args) == 0
    assert "blockcnn, blockcnn_postfilter: skipped" in capsys.readouterr().out
    assert list(json.loads((tmp_path / "blockcnn2018_rd.json").read_text())["curves"]) == ["jpeg"]


def test_fig2_maps_the_error_by_position_after_jpeg_and_each_model(tmp_path):
    data = write_image_folder(tmp_path / "bsds", 3, size=(41, 60))  # 5 x 7 whole blocks, partial ones beside
    torch.manual_seed(0)
    restorer = create_model("blockcnn", pretrained=False, **TINY).eval()
    run = finished_run(tmp_path / "blockcnn_q20", "blockcnn", restorer)
    out = ["--results", str(tmp_path / "results"), "--figures", str(tmp_path / "figures")]
    args = ["fig2", "--data", str(data), "--max-images", "2", "--models", str(run), "blockcnn", *out]
    assert benchmark.main(args) == 0
    record = json.loads((tmp_path / "results" / "blockcnn2018_fig2.json").read_text())
    assert record["images"] == 2 and set(record["maps"]) == {"jpeg", str(run)}
    assert record["notes"] == ["blockcnn: skipped, no trained weights (pass a finished run folder)"]
    # same-sized images: the map's mean is the MSE over the whole blocks of both images
    errors = []
    for path in sorted(data.glob("*.png"))[:2]:
        reference = load_reference(path, gray=True)
        decoded = decode(encode(reference, quality=20)).astype(np.float64)
        errors.append((decoded - reference)[:40, :56] ** 2)
    jpeg = record["maps"]["jpeg"]
    assert np.array(jpeg["mse"]).shape == (8, 8)
    assert jpeg["mean_mse"] == pytest.approx(np.mean(errors), rel=1e-12)
    assert {"border_to_inner", "corner_to_centre", "variation"} <= set(jpeg)
    for name in ("blockcnn2018_fig2.png", "blockcnn2018_fig2_blockcnn_q20.png"):
        assert Image.open(tmp_path / "figures" / name).size[0] > 100


def test_rd_decodes_the_codec_files_of_the_first_images_only(tmp_path, monkeypatch):
    data = write_image_folder(tmp_path / "kodak", 2, size=(32, 40))
    predictor = finished_run(tmp_path / "predictor", "blockcnn_predictor", tiny_predictor())
    decoded = []
    decode_image = benchmark.blockcodec.decode_image
    monkeypatch.setattr(benchmark.blockcodec, "decode_image", lambda *a: decoded.append(1) or decode_image(*a))
    monkeypatch.setitem(benchmark.QUALITIES, "blockcnn", (20, 50))
    out = ["--results", str(tmp_path), "--figures", str(tmp_path), "--predictor", str(predictor)]
    assert (
        benchmark.main(["rd", "--data", str(data), "--curves", "jpeg", "blockcnn", "--decode-images", "1", *out]) == 0
    )
    assert len(decoded) == 2  # image 1 at both qualities; image 2 scored on the encoder's reconstruction
    record = json.loads((tmp_path / "blockcnn2018_rd.json").read_text())
    curves = record["curves"]
    assert all("decode_s" in p for p in curves["jpeg"] + curves["blockcnn"])  # means over the decoded images
    assert record["decode_images"] == 1 and record["images"] == 2


def test_rd_refuses_a_decoder_that_differs_from_the_encoder(tmp_path, monkeypatch):
    data = write_image_folder(tmp_path / "kodak", 1, size=(32, 32))
    predictor = finished_run(tmp_path / "predictor", "blockcnn_predictor", tiny_predictor())
    decode_image = benchmark.blockcodec.decode_image
    monkeypatch.setattr(benchmark.blockcodec, "decode_image", lambda *a: decode_image(*a) ^ 1)
    monkeypatch.setitem(benchmark.QUALITIES, "blockcnn", (20,))
    out = ["--results", str(tmp_path), "--figures", str(tmp_path), "--predictor", str(predictor)]
    with pytest.raises(RuntimeError, match="decoded != encoder's reconstruction"):
        benchmark.main(["rd", "--data", str(data), "--curves", "blockcnn", *out])


def test_rd_continues_from_its_cache(tmp_path, monkeypatch):
    data = write_image_folder(tmp_path / "kodak", 2, size=(32, 40))
    predictor = finished_run(tmp_path / "predictor", "blockcnn_predictor", tiny_predictor())
    monkeypatch.setitem(benchmark.QUALITIES, "blockcnn", (20, 50))
    cache = tmp_path / "points.jsonl"
    out = ["--results", str(tmp_path), "--figures", str(tmp_path), "--predictor", str(predictor)]
    args = ["rd", "--data", str(data), "--curves", "jpeg", "blockcnn", "--cache", str(cache), *out]
    assert benchmark.main(args) == 0
    first = json.loads((tmp_path / "blockcnn2018_rd.json").read_text())["curves"]
    lines = cache.read_text().splitlines()
    assert len(lines) == 2 * (len(benchmark.QUALITIES["jpeg"]) + 2)  # one per image, codec and quality
    cache.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # the last point cut short by a stop
    encoded = []
    encode_image = benchmark.blockcodec.encode_image
    monkeypatch.setattr(benchmark.blockcodec, "encode_image", lambda *a: encoded.append(a[1]) or encode_image(*a))
    assert benchmark.main(args) == 0
    assert encoded == [50]  # only the lost point (image 2, the codec at Q50) is measured again
    again = json.loads((tmp_path / "blockcnn2018_rd.json").read_text())["curves"]
    scores = ("bpp", "psnr", "psnr_y", "ssim")
    assert [[p[k] for k in scores] for p in again["blockcnn"]] == [[p[k] for k in scores] for p in first["blockcnn"]]
    assert len(cache.read_text().splitlines()) == len(lines)
    encoded.clear()
    assert benchmark.main([*args, "--threads", "2"]) == 0
    assert encoded == [20, 50, 20, 50]  # another thread count: other seconds, so every point is measured again

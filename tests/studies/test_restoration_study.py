import csv
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from synthetic_data import write_dataset

from dejpeg.api import load_model
from dejpeg.classifiers import load_classifier, predict, save_classifier, train_classifier
from dejpeg.models import UNet
from dejpeg.studies import load_split, load_study_config, restoration, run_study
from dejpeg.studies.common import compress_set


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 3-class data set, a classifier trained on its clean train split, and a U-Net that changes images."""
    base = tmp_path_factory.mktemp("restoration")
    root = write_dataset(base / "data", {"train": 24, "test": 8})
    torch.manual_seed(0)
    classifier = load_classifier("cifar_resnet8", num_classes=3)
    train = load_split(root, "train")
    train_classifier(classifier, train.images, train.labels, epochs=6, batch_size=16, lr=0.05)
    save_classifier(classifier, base / "classifier.safetensors")
    unet = UNet(width=4, depth=2)
    torch.nn.init.normal_(unet.out.weight, std=0.3)  # a crude "restorer" that flips some predictions
    run = base / "unet_run"  # laid out as a `dejpeg train` run folder
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "unet", "model_kwargs": {"width": 4, "depth": 2}}))
    save_file(unet.state_dict(), str(run / "final.safetensors"))
    return {
        "base": base,
        "root": root,
        "classifier": f"cifar_resnet8:{base / 'classifier.safetensors'}",
        "restorer": str(run),
    }


def _config(setup, out, **overrides):
    raw = {
        "out_dir": str(out),
        "data": {"root": str(setup["root"])},
        "classifier": setup["classifier"],
        "restorer": {2: setup["restorer"]},
        "qualities": [2, 9],
        "flip_examples": 2,
    }
    raw.update(overrides)
    return load_study_config("restoration", raw)


def test_end_to_end_tables_plots_flips_and_report(setup, tmp_path):
    out = tmp_path / "out"
    result = run_study("restoration", _config(setup, out), progress=False)
    assert result["metric"] == "accuracy"
    for name in (
        "summary.csv",
        "flips.csv",
        "results.json",
        "report.html",
        "config.json",
        "accuracy_vs_quality.png",
        "accuracy_vs_psnr.png",
        "flips.png",
    ):
        assert (out / name).is_file(), name
    rows = {(r["set"], r["quality"]): r for r in result["summary"]}
    assert set(rows) == {("original", ""), ("jpeg", 2), ("restored", 2), ("jpeg", 9), ("restored", 9)}

    # Independent recomputation of the original and JPEG rows.
    test = load_split(setup["root"], "test")
    classifier = load_classifier(setup["classifier"])
    assert rows[("original", "")]["accuracy"] == pytest.approx(np.mean(predict(classifier, test.images) == test.labels))
    jpeg = compress_set(test.images, quality=2)
    assert rows[("jpeg", 2)]["accuracy"] == pytest.approx(np.mean(predict(classifier, jpeg.images) == test.labels))
    assert rows[("jpeg", 2)]["psnr_mean"] < rows[("jpeg", 9)]["psnr_mean"]

    flips = list(csv.DictReader((out / "flips.csv").open()))
    assert result["flips"]["fixed"] + result["flips"]["broken"] == len(flips) > 0
    assert rows[("restored", 2)]["fixed"] + rows[("restored", 9)]["fixed"] == result["flips"]["fixed"]
    for flip in flips:
        right_jpeg, right_restored = flip["pred_jpeg"] == flip["truth"], flip["pred_restored"] == flip["truth"]
        assert (flip["kind"] == "fixed") == (right_restored and not right_jpeg)
        assert (flip["kind"] == "broken") == (right_jpeg and not right_restored)
    html = (out / "report.html").read_text()
    assert "flips.png" in html and "accuracy_vs_psnr.png" in html and "lossless files" in html
    assert json.loads((out / "results.json").read_text())["summary"] == json.loads(json.dumps(result["summary"]))


def test_rerun_uses_cached_cells_and_new_settings_make_new_cells(setup, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = run_study("restoration", _config(setup, out), progress=False)
    cells = sorted(p.name for p in (out / "cells").iterdir())

    def fail(*args, **kwargs):
        raise AssertionError("a cached cell was recomputed")

    monkeypatch.setattr(restoration, "restore_set", fail)
    monkeypatch.setattr(restoration, "predict", fail)
    assert run_study("restoration", _config(setup, out), progress=False)["summary"] == first["summary"]
    monkeypatch.undo()
    run_study("restoration", _config(setup, out, subsampling="444"), progress=False)
    assert len(list((out / "cells").iterdir())) == len(cells) + 2  # the two qualities again; original reused


def test_label_free_reports_agreement_with_the_original(setup, tmp_path):
    root = write_dataset(tmp_path / "photos", {"test": 3}, labelled=False, seed=5)
    result = run_study("restoration", _config(setup, tmp_path / "out", data={"root": str(root)}), progress=False)
    assert result["metric"] == "agreement"
    assert result["summary"][0]["agreement"] == 1.0  # the original agrees with itself
    assert all(0 <= r["agreement"] <= 1 for r in result["summary"])
    assert "no labels" in (tmp_path / "out" / "report.html").read_text()


def test_finetune_first_then_reuse_the_saved_classifier(setup, tmp_path, monkeypatch):
    out = tmp_path / "out"
    cfg = _config(
        setup, out, classifier="cifar_resnet8", qualities=[5], finetune={"epochs": 1, "batch_size": 16, "lr": 0.05}
    )
    run_study("restoration", cfg, progress=False)
    saved = list(out.glob("classifier-*.safetensors"))
    assert len(saved) == 1 and not list(out.glob("*.ckpt"))
    monkeypatch.setattr(restoration, "train_classifier", lambda *a, **k: pytest.fail("fine-tuned twice"))
    run_study("restoration", cfg, progress=False)


def test_configuration_errors(setup, tmp_path):
    with pytest.raises(ValueError, match="10 outputs but the data set has 3 classes"):
        run_study("restoration", _config(setup, tmp_path / "a", classifier="cifar_resnet20"), progress=False)
    with pytest.raises(ValueError, match="unknown keys"):
        _config(setup, tmp_path, qualitys=[1])
    with pytest.raises(ValueError, match="qualities"):
        _config(setup, tmp_path, qualities=[0])
    with pytest.raises(ValueError, match="not 'restoration'"):
        load_study_config("restoration", {"study": "preprocessing"})
    with pytest.raises(ValueError, match="unknown model"):
        load_model("no_such_model")
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.json").write_text('{"model": "unet"}')
    with pytest.raises(FileNotFoundError, match="is the training run finished"):
        load_model(str(tmp_path / "unfinished"))


def test_nearest_trained_restorer_per_quality(setup, tmp_path):
    cfg = _config(setup, tmp_path, restorer={1: "a", 5: "b", 10: "c"})
    assert [cfg.restorer_for(q) for q in (1, 2, 3, 4, 7, 8, 10)] == ["a", "a", "a", "b", "b", "c", "c"]
    assert _config(setup, tmp_path, restorer="x").restorer_for(7) == "x"

import csv

import pytest
import torch
from synthetic_data import write_dataset

from dejpeg.classifiers import load_classifier, save_classifier
from dejpeg.studies import load_study_config, preprocessing, run_study


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("pre") / "data", {"train": 12, "test": 6})


def _config(root, out, **overrides):
    raw = {
        "out_dir": str(out),
        "data": {"root": str(root)},
        "classifier": "cifar_resnet8",
        "levels": {"kind": "quality", "values": [30, 5]},
        "train": {"epochs": 1, "batch_size": 12, "lr": 0.05},
        "model_size": {"small": "cifar_resnet8", "large": "cifar_resnet14", "levels": ["original", 5]},
        "noise": {"std": 0.5, "levels": ["original", 5]},
    }
    raw.update(overrides)
    return load_study_config("preprocessing", raw)


def test_end_to_end_every_experiment(root, tmp_path):
    out = tmp_path / "out"
    result = run_study("preprocessing", _config(root, out), progress=False)
    assert result["metric"] == "accuracy"
    for name in (
        "levels.csv",
        "epochs.csv",
        "model_size.csv",
        "noise.csv",
        "results.json",
        "report.html",
        "accuracy_vs_ratio.png",
        "storage_vs_accuracy.png",
        "epochs.png",
        "model_size.png",
        "noise.png",
    ):
        assert (out / name).is_file(), name
    levels = {r["level"]: r for r in result["levels"]}
    assert list(levels) == ["original", "q30", "q5"]
    assert levels["q30"]["storage_mb"] > levels["q5"]["storage_mb"]
    assert levels["q30"]["ratio_mean"] > levels["q5"]["ratio_mean"]
    assert levels["q30"]["psnr_mean"] > levels["q5"]["psnr_mean"] and levels["original"]["psnr_mean"] is None
    assert levels["q5"]["quality_mean"] == 5 and all(0 <= r["accuracy"] <= 1 for r in result["levels"])
    epochs = list(csv.DictReader((out / "epochs.csv").open()))
    assert [(e["level"], e["epoch"]) for e in epochs] == [(lv, ep) for lv in levels for ep in ("0", "1")]
    assert sorted((s["model"], s["level"]) for s in result["model_size"]) == [
        ("large", "original"),
        ("large", "q5"),
        ("small", "original"),
        ("small", "q5"),
    ]
    assert sorted((n["noise_std"], n["level"]) for n in result["noise"]) == [
        (0.0, "original"),
        (0.0, "q5"),
        (0.5, "original"),
        (0.5, "q5"),
    ]
    noisy = {n["level"]: n for n in result["noise"] if n["noise_std"]}
    assert noisy["original"]["psnr_mean"] < 30  # the noise is there
    # main (3) + large (2) + noisy (2); small == main classifier, so its cells are the main ones
    assert len(list((out / "cells").glob("*.json"))) == 7 and not list((out / "cells").glob("*.ckpt"))
    assert "Is compressing riskier than a bigger model?" in (out / "report.html").read_text()


def test_rerun_is_read_from_the_cells(root, tmp_path, monkeypatch):
    cfg = _config(root, tmp_path / "out", model_size=None, noise=None, levels={"kind": "ratio", "values": [0.3]})
    first = run_study("preprocessing", cfg, progress=False)
    monkeypatch.setattr(preprocessing, "train_classifier", lambda *a, **k: pytest.fail("a finished cell re-ran"))
    assert run_study("preprocessing", cfg, progress=False) == first
    assert first["levels"][1]["level"] == "r0.3"


def test_label_free_scores_agreement_with_the_pretrained_classifier(tmp_path):
    root = write_dataset(tmp_path / "photos", {"train": 4, "test": 2}, labelled=False)
    torch.manual_seed(0)
    save_classifier(load_classifier("cifar_resnet8", num_classes=3), tmp_path / "pretrained.safetensors")
    cfg = _config(
        root,
        tmp_path / "out",
        classifier=f"cifar_resnet8:{tmp_path / 'pretrained.safetensors'}",
        model_size=None,
        noise=None,
        levels={"kind": "quality", "values": [10]},
    )
    result = run_study("preprocessing", cfg, progress=False)
    assert result["metric"] == "agreement"
    original = result["levels"][0]
    assert original["agreement_pretrained"] == 1.0  # before fine-tuning it agrees with itself
    assert list((tmp_path / "out" / "cells").glob("pseudo_labels-*.json"))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"levels": {"kind": "ratio", "values": [1.0]}}, "1.0 is the original"),
        ({"levels": {"kind": "quality", "values": [0]}}, "1..100"),
        ({"levels": {"kind": "size", "values": [1]}}, "'ratio' or 'quality'"),
        ({"noise": {"levels": ["lossless"]}}, "'original' or a number"),
        ({"model_size": {"small": "cifar_resnet8"}}, "large"),
    ],
)
def test_bad_levels_are_config_errors(root, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _config(root, tmp_path, **overrides)
